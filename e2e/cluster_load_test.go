package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/loadtest"
)

// TestClusterLoad runs `glint loadtest` against three `glint serve` on one redis-server: one
// publisher on node A, 60 bare viewers spread over A, B and C (B and C relay the room from
// A). Every viewer must get frames, and the report must show each node's viewers, server
// figures and relays. scripts/bench/90-clusterload.sh is the same run at 600+ viewers.
func TestClusterLoad(t *testing.T) {
	srv := redistest.Start(t, "")
	node := func(id string) *server {
		return startServer(t, "--redis", srv.URL(), "--node-id", id, "--cluster-secret", "e2e-cluster-load-secret",
			"--public-url", "http://127.0.0.1:{http}")
	}
	nodes := []*server{node("node-a"), node("node-b"), node("node-c")}
	var urls, pids []string
	for _, s := range nodes {
		urls, pids = append(urls, s.base), append(pids, strconv.Itoa(s.proc.Pid()))
	}
	report := filepath.Join(t.TempDir(), "report.json")
	lt := testkit.StartProc(t, testkit.ProcOptions{Name: "glint loadtest"}, glintBin(t), "loadtest",
		"--url", nodes[0].base, "--viewer-urls", strings.Join(urls, ","), "--server-pid", strings.Join(pids, ","),
		"--room", "clusterload", "--publisher", "loop", "--size", "640x360", "--bitrate", "1000",
		"--viewer", "bare", "--viewers", "60", "--warmup", "3s", "--duration", "5s", "--json", report)
	if err := lt.Wait(5 * time.Minute); err != nil {
		t.Fatalf("glint loadtest: %v\nstderr:\n%s", err, testkit.Tail(lt.Stderr(), 3000))
	}
	table := strings.Join(lt.Output(), "\n")
	t.Logf("glint loadtest:\n%s", table)
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r loadtest.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	if r.Error != "" || len(r.Steps) != 1 || len(r.Steps[0].Nodes) != 3 {
		t.Fatalf("report: error %q, %d steps", r.Error, len(r.Steps))
	}
	step := r.Steps[0]
	checkViewers(t, "all nodes", step.WebRTC, 60)
	for i, n := range step.Nodes {
		name := fmt.Sprintf("node %d (%s)", i, n.URL)
		checkViewers(t, name, n.WebRTC, 20)
		wantIn, wantOut := 1, 0
		if i == 0 {
			wantIn, wantOut = 0, 2
		}
		if n.URL != nodes[i].base || n.RelaysIn != wantIn || n.RelaysOut != wantOut {
			t.Errorf("%s: relays in %d out %d, want %d and %d", name, n.RelaysIn, n.RelaysOut, wantIn, wantOut)
		}
		if i > 0 && n.RelayUpstreams["clusterload"] != "node-a" {
			t.Errorf("%s: relays %v, want clusterload from node-a", name, n.RelayUpstreams)
		}
		if n.ServerViewers == nil || *n.ServerViewers != 20 || n.ServerCPUPercent <= 0 || n.ServerRSSBytes <= 0 {
			t.Errorf("%s: glint viewers %v, CPU %v%%, RSS %d", name, n.ServerViewers, n.ServerCPUPercent, n.ServerRSSBytes)
		}
	}
	if !strings.Contains(table, "per node") || !strings.Contains(table, "relays on "+nodes[1].base+": clusterload <- node-a") {
		t.Errorf("table has no per-node rows or relays:\n%s", table)
	}
}
