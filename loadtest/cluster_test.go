package loadtest_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/loadtest"
	"github.com/glint-video/glint/relay"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

const clusterSecret = "loadtest-cluster-secret"

// originLocator sends every room to one origin node (every other node relays from it).
type originLocator struct {
	id, url string
}

func (l originLocator) Origin(context.Context, string) (string, string, bool, error) {
	return l.id, l.url, l.url != "", nil
}

// startClusterNode runs an in-process node with relays: rooms live on no local publisher
// are relayed from origin (none for the origin itself).
func startClusterNode(t *testing.T, name string, origin originLocator) *testnode.Node {
	t.Helper()
	var relays *relay.Manager
	n := testnode.Start(t, testnode.Options{Metrics: true,
		SFU: func(o *sfu.Options) { o.PLIInterval = 0 },
		Signaling: func(o *signaling.Options) {
			m, err := relay.New(relay.Options{SFU: o.SFU, Locator: origin, NodeID: name, Secret: clusterSecret,
				LoopbackOnly: true, Logger: o.Logger.With("node", name)})
			if err != nil {
				t.Fatal(err)
			}
			o.ClusterSecret, o.Relays, relays = clusterSecret, m, m
		}})
	t.Cleanup(relays.Close) // before the node's own cleanup closes its SFU
	relays.Register(n.Mux)
	return n
}

// TestRunSpreadsViewersOverNodes publishes to an origin and plays from it and two edges
// that relay the room: each node's viewers, server figures and relays are reported.
func TestRunSpreadsViewersOverNodes(t *testing.T) {
	a := startClusterNode(t, "node-a", originLocator{})
	b := startClusterNode(t, "node-b", originLocator{"node-a", a.URL})
	c := startClusterNode(t, "node-c", originLocator{"node-a", a.URL})
	report, progress := runLoadtest(t, loadtest.Config{
		URL: a.URL, Room: "spread", Viewers: []int{6}, ViewerMode: loadtest.ViewerBare,
		ViewerURLs: []string{a.URL, b.URL + "/", c.URL}, Step: 2 * time.Second, Warmup: time.Second,
		Width: 640, Height: 360, BitrateKbps: 800, FPS: 30,
	})
	if len(report.Steps) != 1 || report.Baseline == nil || len(report.Baseline.Nodes) != 3 {
		t.Fatalf("steps %d, baseline %+v", len(report.Steps), report.Baseline)
	}
	s := report.Steps[0]
	checkClientStats(t, "all nodes", s.WebRTC, 6)
	if len(s.Nodes) != 3 {
		t.Fatalf("%d nodes in the step, want 3", len(s.Nodes))
	}
	for i, want := range []struct {
		url            string
		relaysIn, out  int
		upstreamOfRoom string
	}{{a.URL, 0, 2, ""}, {b.URL, 1, 0, "node-a"}, {c.URL, 1, 0, "node-a"}} {
		n := s.Nodes[i]
		checkClientStats(t, n.URL, n.WebRTC, 2)
		if n.URL != want.url || n.Publish != (i == 0) || n.Viewers != 2 {
			t.Errorf("node %d: url %s publish %v viewers %d; want %s, 2 viewers", i, n.URL, n.Publish, n.Viewers, want.url)
		}
		if n.ServerViewers == nil || *n.ServerViewers != 2 {
			t.Errorf("node %s: glint_subscribers %v, want 2 (relays are not viewers)", n.URL, n.ServerViewers)
		}
		if n.RelaysIn != want.relaysIn || n.RelaysOut != want.out || n.RelayUpstreams["spread"] != want.upstreamOfRoom ||
			n.RelayConnects != int64(want.relaysIn) {
			t.Errorf("node %s: relays in %d out %d upstreams %v (%d sessions); want %d, %d, from %q",
				n.URL, n.RelaysIn, n.RelaysOut, n.RelayUpstreams, n.RelayConnects, want.relaysIn, want.out, want.upstreamOfRoom)
		}
		if n.ServerCPUPercent <= 0 || n.ServerRSSBytes <= 0 {
			t.Errorf("node %s: server CPU %v%%, RSS %d", n.URL, n.ServerCPUPercent, n.ServerRSSBytes)
		}
	}
	if s.ServerViewers == nil || *s.ServerViewers != 6 {
		t.Errorf("cluster total of glint_subscribers %v, want 6", s.ServerViewers)
	}
	var table bytes.Buffer
	if err := report.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"per node", a.URL + " (publish)", "relays on " + b.URL + ": spread <- node-a"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table has no %q:\n%s", want, table.String())
		}
	}
	if strings.Count(progress, "  node ") != 2*3 { // baseline and the step, three nodes each
		t.Errorf("progress has no line per node and step:\n%s", progress)
	}
	if !slices.Equal(report.Params.ViewerURLs, []string{a.URL, b.URL + "/", c.URL}) {
		t.Errorf("params viewer URLs %v", report.Params.ViewerURLs)
	}
}

// TestRunOneServerHasNoNodes: without viewer URLs the report and table are those of one
// server.
func TestRunOneServerHasNoNodes(t *testing.T) {
	url := startGlint(t)
	report, _ := runLoadtest(t, loadtest.Config{URL: url, Room: "single", Viewers: []int{1}, Step: time.Second,
		Warmup: 500 * time.Millisecond, Width: 320, Height: 180, BitrateKbps: 300, FPS: 30})
	var table bytes.Buffer
	if err := report.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if len(report.Steps[0].Nodes) != 0 || report.Baseline.Nodes != nil || strings.Contains(table.String(), "per node") {
		t.Errorf("a one-server run reports nodes:\n%s", table.String())
	}
}

func TestParseFlagsClusterRun(t *testing.T) {
	o, err := loadtest.ParseFlags([]string{"--url", "http://a:8080", "--viewer-url", "http://a:8080", "--viewer-url", "http://b:8080",
		"--viewer-urls", "http://c:8080,http://b:8080", "--server-pid", "11,12", "--server-pid", "13"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.ViewerURLs, []string{"http://a:8080", "http://b:8080", "http://c:8080", "http://b:8080"}) ||
		o.ServerPID != 11 || !slices.Equal(o.ServerPIDs, []int{11, 12, 13}) {
		t.Errorf("viewer URLs %v, server pid %d, pids %v", o.ViewerURLs, o.ServerPID, o.ServerPIDs)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	path := writeTempFile(t, "cluster.yaml", "viewer_urls: [http://x:1, http://y:1]\nserver_pid: [5, 6, 7]\n")
	o, err = loadtest.ParseFlags([]string{"--scenario", path, "--viewer-url", "http://z:1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.ViewerURLs, []string{"http://z:1"}) || !slices.Equal(o.ServerPIDs, []int{5, 6, 7}) {
		t.Errorf("flags over the file: viewer URLs %v, pids %v", o.ViewerURLs, o.ServerPIDs)
	}
	one := writeTempFile(t, "one.yaml", "server_pid: 42\n")
	if o, err = loadtest.ParseFlags([]string{"--scenario", one}, &bytes.Buffer{}); err != nil || o.ServerPID != 42 || o.ServerPIDs != nil {
		t.Errorf("server_pid: 42 in a scenario: %v, pid %d, pids %v", err, o.ServerPID, o.ServerPIDs)
	}
}

func TestClusterFlagErrorsAreOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--viewer-url", "b:8080"}, `viewer url "b:8080": want a node's base URL`},
		{[]string{"--server-pid", "1,2"}, "2 PIDs need as many nodes"},
		{[]string{"--server-pid", "x"}, "want process ids"},
		{[]string{"--viewer-url", "http://b:1", "--server-pid", "1,2,3"}, "3 PIDs for 2 nodes"},
		{[]string{"--viewer-url", "http://b:1", "--capacity"}, "capacity mode measures one server"},
		{[]string{"--viewer-url", "http://b:1", "--whep-url", "http://e/whep/{room}"}, "each node's play URL"},
	} {
		err := loadtest.Command(context.Background(), append(tc.args, "--viewers", "1"), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("glint loadtest %v: got %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
}
