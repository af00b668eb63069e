package relay_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/relay"
	"github.com/glint-video/glint/signaling"
)

// treeNode is a node that picks its relays' parents from a shared registry.
type treeNode struct {
	*clusterNode
	name  string
	leave context.CancelFunc // ends its registry entry
}

// startTreeNode starts node name, relaying every room from origin "a" unless the tree says
// otherwise, with fan-out fanout, its load in reg (a heartbeat every 50 ms).
func startTreeNode(t *testing.T, ctx context.Context, r *routes, reg *cluster.MemoryRegistry, name string, fanout int) *treeNode {
	t.Helper()
	n := startNode(t, r, name, time.Minute, func(o *relay.Options) { o.Registry, o.Fanout = reg, fanout })
	r.route(name, "tree", "a")
	regCtx, leave := context.WithCancel(ctx)
	load := func() cluster.Load {
		var l cluster.Load
		n.Relays.AddLoad(&l)
		return l
	}
	if err := reg.Register(regCtx, cluster.NodeInfo{ID: name, URL: n.URL}, load); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leave)
	return &treeNode{clusterNode: n, name: name, leave: leave}
}

// waitLink waits until the registry shows n relaying room "tree" from parent, and parent
// serving out relays of it.
func waitLink(t *testing.T, ctx context.Context, reg *cluster.MemoryRegistry, n, parent string, out int) {
	t.Helper()
	testkit.Eventually(t, ctx, "the registry shows "+n+" relaying from "+parent, func() bool {
		child, ok1, _ := reg.Node(ctx, n)
		up, ok2, _ := reg.Node(ctx, parent)
		return ok1 && ok2 && child.Load.Relays["tree"].Parent == parent && up.Load.RelaysOut["tree"] == out
	})
}

func upstreamOf(n *treeNode) string { return n.Relays.Relays()["tree"].Upstream }

// TestRelayTreeByLoad: with a fan-out of 1, b relays from the origin a, c from b (a is
// full), d from c (a and b are full): a tree of depth 3 chosen from the registry, and every
// viewer plays. Then b's relays end and b leaves the registry (its death): c re-attaches
// to the origin, d to a parent still in the tree, and their viewers go on in the same
// sessions.
func TestRelayTreeByLoad(t *testing.T) {
	ctx := testkit.Context(t, 90*time.Second)
	reg := cluster.NewMemoryRegistry()
	reg.Heartbeat = 50 * time.Millisecond
	r := newRoutes()
	nodes := map[string]*treeNode{}
	for _, name := range []string{"a", "b", "c", "d"} {
		nodes[name] = startTreeNode(t, ctx, r, reg, name, 1)
	}
	a, b, c, d := nodes["a"], nodes["b"], nodes["c"], nodes["d"]
	pub := startSimPublisher(t, ctx, a.WHIP("tree"))
	streaming(t, ctx, pub)
	waitLayers(t, ctx, a.clusterNode, "tree")

	viewers := map[string]*frameViewer{}
	for _, step := range []struct{ node, parent string }{{"b", "a"}, {"c", "b"}, {"d", "c"}} {
		n := nodes[step.node]
		viewers[step.node] = startFrameViewer(t, ctx, n.WHEP("tree"), client.Options{})
		testkit.Eventually(t, ctx, "the viewer on "+step.node+" plays", viewers[step.node].started)
		if up := upstreamOf(n); up != step.parent {
			t.Fatalf("%s relays from %q, want %q (fan-out 1)", step.node, up, step.parent)
		}
		waitLink(t, ctx, reg, step.node, step.parent, 1)
	}
	if link := mustNode(t, ctx, reg, "d").Load.Relays["tree"]; link.Depth != 3 || d.Relays.Relays()["tree"].Depth != 3 {
		t.Errorf("d's depth %d in the registry, %+v in its relays; want 3", link.Depth, d.Relays.Relays()["tree"])
	}
	checkRoom(t, a.clusterNode, "tree", 0, 1)
	checkRoom(t, b.clusterNode, "tree", 1, 1)

	// b dies: its relays end and its entry leaves the registry.
	before := map[string]int{"c": viewers["c"].videoPackets(), "d": viewers["d"].videoPackets()}
	b.leave()
	b.Relays.Close()
	for _, name := range []string{"c", "d"} {
		v := viewers[name]
		testkit.Eventually(t, ctx, "the viewer on "+name+" plays again", func() bool { return v.videoPackets() > before[name]+60 })
		select {
		case <-v.Session.Done():
			t.Fatalf("the viewer on %s lost its session", name)
		default:
		}
	}
	if up := upstreamOf(c); up != "a" {
		t.Errorf("c re-attached to %q, want the origin a (b is gone)", up)
	}
	if up := upstreamOf(d); !slices.Contains([]string{"a", "c"}, up) {
		t.Errorf("d re-attached to %q, want a or c", up)
	}
	t.Logf("after b's death: c relays from %s (%d upstream sessions), d from %s (%d)", upstreamOf(c),
		c.Relays.Relays()["tree"].Connects, upstreamOf(d), d.Relays.Relays()["tree"].Connects)
}

func mustNode(t *testing.T, ctx context.Context, reg *cluster.MemoryRegistry, id string) cluster.NodeInfo {
	t.Helper()
	n, ok, err := reg.Node(ctx, id)
	if !ok || err != nil {
		t.Fatalf("node %s not in the registry (%v)", id, err)
	}
	return n
}

// TestRelayFromProtectedOrigin: the origin runs with access control on (an admin key and
// the cluster secret): the relay's room-info request and WHEP session both present the
// cluster secret, so b's viewer plays; without it the room API answers 401.
func TestRelayFromProtectedOrigin(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	const adminKey = "origin-admin-key"
	log, _ := testkit.NewLogger(t)
	authz, err := auth.New(auth.Options{AdminKey: adminKey, NodeSecret: secret, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	r := newRoutes()
	a := testnode.Start(t, testnode.Options{Handler: authz.Protect, Signaling: func(o *signaling.Options) { o.ClusterSecret = secret }})
	r.urls["a"] = a.URL
	b := startNode(t, r, "b", time.Minute)
	r.route("b", "locked", "a")
	pub := testnode.StartPublisher(t, ctx, a.WHIP("locked"), client.Options{LoopbackOnly: true, Token: adminKey})
	go pub.Feed(ctx)
	a.WaitLive(t, ctx, "locked")
	resp, err := http.Get(a.URL + "/api/rooms/locked")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("room info without a token: %s, want 401", resp.Status)
	}
	_, got := b.Play(t, ctx, "locked")
	testkit.Eventually(t, ctx, "b's viewer gets video through the relay", func() bool { return got.Count("video") > 30 })
	if up := b.Relays.Relays()["locked"].Upstream; up != "a" {
		t.Errorf("b relays from %q, want a", up)
	}
}
