package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
)

// The tree cluster's credentials: access control is on (an admin key) on every node.
const (
	treeSecret   = "e2e-tree-cluster-secret-0123"
	treeAdminKey = "e2e-tree-admin-key"
)

// adminGet GETs path of s with the admin key and decodes its JSON into v.
func adminGet(s *server, path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, s.url(path), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+treeAdminKey)
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// startTokenViewer is an edgeViewer of whep that presents the admin key.
func startTokenViewer(t *testing.T, ctx context.Context, whep string) *edgeViewer {
	t.Helper()
	return playEdgeViewer(t, ctx, whep, client.FailoverOptions{Options: client.Options{LoopbackOnly: true, Token: treeAdminKey}})
}

// playEdgeViewer starts an edgeViewer of whep with opts (its OnRTP is the viewer's).
func playEdgeViewer(t *testing.T, ctx context.Context, whep string, opts client.FailoverOptions) *edgeViewer {
	t.Helper()
	v := &edgeViewer{video: map[int][]videoPacket{}, frames: map[int]int{}}
	opts.OnRTP = v.onRTP
	fv, err := client.PlayWithFailover(ctx, whep, opts)
	if err != nil {
		t.Fatal(err)
	}
	v.FailoverViewer = fv
	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fv.Close(closeCtx); err != nil {
			t.Errorf("failover viewer: %v", err)
		}
	})
	return v
}

// waitTreeLink waits until the registry (GET /api/nodes on s) shows child relaying room from
// parent, and parent serving one relay of it.
func waitTreeLink(t *testing.T, ctx context.Context, s *server, room, child, parent string) {
	t.Helper()
	testkit.Eventually(t, ctx, "the registry shows "+child+" relaying from "+parent, func() bool {
		var nodes []cluster.NodeInfo
		if adminGet(s, "/api/nodes", &nodes) != nil {
			return false
		}
		i := slices.IndexFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == child })
		j := slices.IndexFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == parent })
		return i >= 0 && j >= 0 && nodes[i].Load.Relays[room].Parent == parent && nodes[j].Load.RelaysOut[room] == 1
	})
}

// TestClusterRelayTree: four glint serve processes on one Redis, access control on (an admin
// key) and --relay-fanout 1. `glint demo` publishes on A; a viewer on B makes B relay from A;
// a viewer on C makes C relay from B (A's fan-out is used up); a viewer on D makes D relay
// from C. GET /api/relays shows the tree, every viewer decodes what it gets, and the extra
// latency of each hop is measured (logged) from the same packets arriving at the viewers of
// consecutive nodes.
func TestClusterRelayTree(t *testing.T) {
	requireFFmpeg(t)
	const room = "tree"
	srv := redistest.Start(t, "")
	node := func(id string) *server {
		return startServer(t, "--redis", srv.URL(), "--node-id", id, "--cluster-secret", treeSecret,
			"--public-url", "http://127.0.0.1:{http}", "--relay-fanout", "1", "--auth-admin-key", treeAdminKey)
	}
	servers := map[string]*server{"node-a": node("node-a"), "node-b": node("node-b"), "node-c": node("node-c"), "node-d": node("node-d")}
	a := servers["node-a"]
	ctx := testkit.Context(t, 150*time.Second)
	testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo",
		"--url", a.url("/whip/"+room), "--token", treeAdminKey, "--size", "320x180", "--loopback")
	testkit.Eventually(t, ctx, "the room live on A", func() bool {
		var info roomInfo
		if adminGet(a, "/api/rooms/"+room, &info) != nil {
			return false
		}
		_, video := info.track("video")
		return info.Live && video
	})

	order := []string{"node-a", "node-b", "node-c", "node-d"}
	viewers := map[string]*edgeViewer{"node-a": startTokenViewer(t, ctx, a.url("/whep/"+room))}
	for i, id := range order[1:] {
		parent := order[i]
		if i > 0 { // the choice reads the registry: wait until it shows the previous link
			waitTreeLink(t, ctx, a, room, parent, order[i-1])
		}
		viewers[id] = startTokenViewer(t, ctx, servers[id].url("/whep/"+room))
		testkit.Eventually(t, ctx, "video on "+id, func() bool { return viewers[id].framesOf(1) > 0 })
		var relays map[string]struct {
			Upstream string `json:"upstream"`
			Depth    int    `json:"depth"`
		}
		if err := adminGet(servers[id], "/api/relays", &relays); err != nil || relays[room].Upstream != parent || relays[room].Depth != i+1 {
			t.Fatalf("GET /api/relays on %s: %+v (%v); want the room relayed from %s at depth %d (fan-out 1)", id, relays, err, parent, i+1)
		}
		t.Logf("%s relays %s from %s", id, room, parent)
	}
	for _, id := range order {
		testkit.Eventually(t, ctx, "150 frames on "+id, func() bool { return viewers[id].framesOf(1) >= 150 })
		checkDecodable(t, ctx, viewers[id], 1, "viewer on "+id)
	}
	for i := range order[:3] {
		up, down := viewers[order[i]].packetsOf(1), viewers[order[i+1]].packetsOf(1)
		extra := hopDelays(up, down, down[0].at.Add(joinCatchUp))
		if len(extra) < 100 {
			t.Fatalf("hop %s→%s: %d packets seen on both sides, want ≥ 100", order[i], order[i+1], len(extra))
		}
		t.Logf("extra latency of the hop %s→%s (depth %d), per packet: p50 %v p95 %v max %v over %d packets", order[i], order[i+1], i+1,
			stats.Quantile(extra, 0.5), stats.Quantile(extra, 0.95), extra[len(extra)-1], len(extra))
	}
}

// joinCatchUp is how long a joining viewer may get the packets since the cached keyframe at
// once (--join-cache-age, 1 s, and a margin): those are not a hop's latency.
const joinCatchUp = 1500 * time.Millisecond

// hopDelays is, for every video packet that reached both viewers (the same payload: relays
// forward payloads untouched) and reached up from since on, how much later it reached down
// than up, sorted.
func hopDelays(up, down []videoPacket, since time.Time) []time.Duration {
	seed := maphash.MakeSeed()
	at := map[uint64]time.Time{}
	for _, p := range up {
		if h := maphash.Bytes(seed, p.payload); at[h].IsZero() && !p.at.Before(since) {
			at[h] = p.at // the first arrival; a retransmission comes later
		}
	}
	var out []time.Duration
	for _, p := range down {
		h := maphash.Bytes(seed, p.payload)
		if t, ok := at[h]; ok {
			out = append(out, p.at.Sub(t))
			delete(at, h)
		}
	}
	slices.Sort(out)
	return out
}
