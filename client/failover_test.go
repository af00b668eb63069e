package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/client/clienttest"
	"github.com/glint-video/glint/internal/testkit"
)

// fakeNode is a clienttest server behind a front that also answers /healthz and
// /api/nodes (every fake node of the test), as a node of a Glint cluster does.
type fakeNode struct {
	*clienttest.Server
	front *httptest.Server
}

// startFakeNodes starts one fake node per config.
func startFakeNodes(t *testing.T, cfgs ...clienttest.Config) []*fakeNode {
	t.Helper()
	nodes := make([]*fakeNode, len(cfgs))
	list := func(w http.ResponseWriter, _ *http.Request) {
		type entry struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		}
		out := []entry{}
		for i, n := range nodes {
			out = append(out, entry{ID: "node-" + string(rune('a'+i)), URL: n.front.URL})
		}
		_ = json.NewEncoder(w).Encode(out)
	}
	for i, cfg := range cfgs {
		srv := clienttest.NewServer(t, cfg)
		target, _ := url.Parse(srv.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.Transport = &http.Transport{DisableKeepAlives: true}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
		mux.HandleFunc("GET /api/nodes", list)
		mux.Handle("/", proxy)
		nodes[i] = &fakeNode{Server: srv, front: httptest.NewServer(mux)}
		t.Cleanup(nodes[i].kill)
	}
	return nodes
}

// kill stops the node as a crash would look to its clients: connections refused, sessions
// gone.
func (n *fakeNode) kill() {
	n.front.CloseClientConnections()
	n.front.Close()
	n.Close()
}

// offers counts the node's WHEP offers.
func (n *fakeNode) offers() int {
	count := 0
	for _, r := range n.Requests() {
		if r.Method == http.MethodPost {
			count++
		}
	}
	return count
}

// packetCounter counts RTP packets per session of a FailoverViewer.
type packetCounter struct {
	mu  sync.Mutex
	per map[int]int
}

func (c *packetCounter) onRTP(s client.FailoverSession, _ *webrtc.TrackRemote, _ *rtp.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.per == nil {
		c.per = map[int]int{}
	}
	c.per[s.Index]++
}

func (c *packetCounter) of(session int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.per[session]
}

func startFailoverViewer(t *testing.T, ctx context.Context, whep string, opts client.FailoverOptions) *client.FailoverViewer {
	t.Helper()
	opts.LoopbackOnly = true
	v, err := client.PlayWithFailover(ctx, whep, opts)
	if err != nil {
		t.Fatalf("PlayWithFailover: %v", err)
	}
	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := v.Close(closeCtx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return v
}

// TestPlayWithFailoverMovesToTheNextNode: the viewer learns the other node from /api/nodes;
// when its node dies it plays from the other one, and the loss is recorded as a recovery.
func TestPlayWithFailoverMovesToTheNextNode(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	nodes := startFakeNodes(t, clienttest.Config{}, clienttest.Config{})
	var count packetCounter
	v := startFailoverViewer(t, ctx, nodes[0].front.URL+"/whep/room", client.FailoverOptions{OnRTP: count.onRTP})
	select {
	case <-v.Playing():
	case <-ctx.Done():
		t.Fatal("no media from the first node")
	}
	if got := v.Nodes(); len(got) != 2 || got[0] != nodes[0].front.URL || got[1] != nodes[1].front.URL {
		t.Fatalf("known nodes %v, want both fake nodes (the first one first)", got)
	}
	nodes[0].kill()
	killed := time.Now()
	testkit.Eventually(t, ctx, "media from the second node", func() bool {
		s := v.Session()
		return s.Node == nodes[1].front.URL && count.of(s.Index) > 10
	})
	recs := v.Recoveries()
	if len(recs) != 1 {
		t.Fatalf("recoveries %+v, want one", recs)
	}
	r := recs[0]
	if r.From != nodes[0].front.URL || r.To != nodes[1].front.URL || r.Reason == "" || r.Attempts < 1 || r.Gap() <= 0 {
		t.Fatalf("recovery %+v, want from the first node to the second with a reason", r)
	}
	t.Logf("played again %v after the kill (gap %v, %d attempts): %s", r.FirstMediaAt.Sub(killed).Round(time.Millisecond),
		r.Gap().Round(time.Millisecond), r.Attempts, r.Reason)
	if v.Moves() != 1 {
		t.Errorf("moves %d, want 1", v.Moves())
	}
}

// TestPlayWithFailoverProbesASilentNode: media stops without the session ending (all the
// viewer's datagrams dropped). While the node answers /healthz the session is kept and
// plays again when media returns; once the node does not answer (a kill -9 looks like this
// to a viewer) the viewer moves to the next node.
func TestPlayWithFailoverProbesASilentNode(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	nodes := startFakeNodes(t, clienttest.Config{}, clienttest.Config{})
	conn := &testkit.LossyConn{PacketConn: testkit.LoopbackUDP(t)}
	mux := webrtc.NewICEUDPMux(nil, conn)
	t.Cleanup(func() { _ = mux.Close() })
	var count packetCounter
	v := startFailoverViewer(t, ctx, nodes[0].front.URL+"/whep/room", client.FailoverOptions{OnRTP: count.onRTP,
		Options: client.Options{SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) }}})
	select {
	case <-v.Playing():
	case <-ctx.Done():
		t.Fatal("no media from the first node")
	}
	conn.Drop.Store(math.MaxInt32)
	time.Sleep(4 * client.DefaultSilence)
	if s := v.Session(); s.Index != 1 || v.Moves() != 0 {
		t.Fatalf("silent for %v with the node answering: session %+v, %d moves; want the first session kept", 4*client.DefaultSilence, s, v.Moves())
	}
	conn.Drop.Store(0)
	before := count.of(1)
	testkit.Eventually(t, ctx, "media again on the first session", func() bool { return count.of(1) > before+5 })

	conn.Drop.Store(math.MaxInt32)
	nodes[0].front.Close() // the node's HTTP is gone; its sessions never say goodbye
	testkit.Eventually(t, ctx, "a session on the second node", func() bool { return v.Session().Node == nodes[1].front.URL })
	conn.Drop.Store(0)
	testkit.Eventually(t, ctx, "media from the second node", func() bool { return count.of(v.Session().Index) > 10 })
	if recs := v.Recoveries(); len(recs) != 1 || !strings.Contains(recs[0].Reason, "node unreachable") {
		t.Fatalf("recoveries %+v, want one for an unreachable node", recs)
	}
}

// TestPlayWithFailoverWaitsForARoomThatIsNotLive: a 404 (the room is not live yet) is asked
// again on the same node with backoff, as the watch page does; the other node is left alone.
func TestPlayWithFailoverWaitsForARoomThatIsNotLive(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	nodes := startFakeNodes(t, clienttest.Config{RejectStatus: http.StatusNotFound, RejectBody: `{"error":"room not live"}`},
		clienttest.Config{})
	v := startFailoverViewer(t, ctx, nodes[0].front.URL+"/whep/room", client.FailoverOptions{
		Backoff: []time.Duration{20 * time.Millisecond}})
	testkit.Eventually(t, ctx, "three offers to the first node", func() bool { return nodes[0].offers() >= 3 })
	if n := nodes[1].offers(); n != 0 || v.Moves() != 0 {
		t.Fatalf("offers to the other node %d, moves %d: a room not live yet must not move the viewer", n, v.Moves())
	}
}

// TestPlayWithFailoverMovesOffAnUnavailableNode: a 503 (draining, directory unreachable)
// sends the viewer to the next node.
func TestPlayWithFailoverMovesOffAnUnavailableNode(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	nodes := startFakeNodes(t, clienttest.Config{RejectStatus: http.StatusServiceUnavailable, RejectBody: `{"error":"this node is draining"}`},
		clienttest.Config{})
	var count packetCounter
	v := startFailoverViewer(t, ctx, nodes[0].front.URL+"/whep/room", client.FailoverOptions{OnRTP: count.onRTP, NoDiscovery: true,
		Nodes: []string{nodes[1].front.URL + "/"}})
	testkit.Eventually(t, ctx, "media from the second node", func() bool {
		s := v.Session()
		return s.Node == nodes[1].front.URL && count.of(s.Index) > 5
	})
	if v.Moves() != 1 || len(v.Recoveries()) != 0 {
		t.Fatalf("moves %d, recoveries %+v: want one move and no recovery (nothing played before)", v.Moves(), v.Recoveries())
	}
}

// TestPlayWithFailoverStopsWhenRefusedForGood: a 401 will not mend by trying again: the
// viewer stops and says why.
func TestPlayWithFailoverStopsWhenRefusedForGood(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	nodes := startFakeNodes(t, clienttest.Config{Token: "right"})
	v := startFailoverViewer(t, ctx, nodes[0].front.URL+"/whep/room", client.FailoverOptions{
		Options: client.Options{Token: "wrong"}, NoDiscovery: true})
	select {
	case <-v.Done():
	case <-ctx.Done():
		t.Fatal("the viewer did not stop after a 401")
	}
	var he *client.HTTPError
	if err := v.Err(); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("Err() = %v, want the 401", err)
	}
}

func TestPlayWithFailoverChecksItsArguments(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, url string
		opts      client.FailoverOptions
		want      string
	}{
		{"not a WHEP URL", "http://127.0.0.1:1/watch/room", client.FailoverOptions{}, "want http[s]://host[:port]/whep/{room}"},
		{"no room", "http://127.0.0.1:1/whep/", client.FailoverOptions{}, "want http[s]://host[:port]/whep/{room}"},
		{"no scheme", "127.0.0.1:1/whep/room", client.FailoverOptions{}, "WHEP URL"},
		{"bad node", "http://127.0.0.1:1/whep/room", client.FailoverOptions{Nodes: []string{"ftp://x"}}, `node URL "ftp://x"`},
		{"OnTrack", "http://127.0.0.1:1/whep/room", client.FailoverOptions{Options: client.Options{
			OnTrack: func(*webrtc.TrackRemote, *webrtc.RTPReceiver) {}}}, "OnTrack must be nil"},
		{"backoff", "http://127.0.0.1:1/whep/room", client.FailoverOptions{Backoff: []time.Duration{0}}, "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := client.PlayWithFailover(ctx, tc.url, tc.opts)
			if err == nil {
				_ = v.Close(ctx)
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}
