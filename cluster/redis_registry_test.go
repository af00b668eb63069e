package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
)

func TestRedisRegistry(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := redistest.Start(t, "")
	a, b := newTestRedis(t, srv.URL(), "node-a"), newTestRedis(t, srv.URL(), "node-b")
	load := func(viewers int) LoadFunc {
		return func() Load {
			return Load{CPU: 0.25, Cores: 2, Viewers: viewers, EgressBits: 2_600_000 * int64(viewers), Rooms: 1,
				RoomViewers: map[string]int{"r": viewers}, Relays: map[string]RelayLink{"r": {Parent: "node-0", Depth: viewers}},
				RelaysOut: map[string]int{"r": viewers - 1}, RelayFanout: 4}
		}
	}
	actx, stopA := context.WithCancel(ctx)
	defer stopA()
	if err := a.Registry().Register(actx, NodeInfo{ID: "node-a", URL: "http://10.0.0.1:8080"}, load(3)); err != nil {
		t.Fatal(err)
	}
	if err := b.Registry().Register(ctx, NodeInfo{ID: "node-b", URL: "http://10.0.0.2:8080"}, load(5)); err != nil {
		t.Fatal(err)
	}
	reg := a.Registry()
	nodes, err := reg.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].ID != "node-a" || nodes[1].URL != "http://10.0.0.2:8080" ||
		nodes[1].Load.Viewers != 5 || nodes[0].Load.CPU != 0.25 {
		t.Fatalf("nodes %+v %v", nodes, err)
	}
	// The relay tree's part of the load (package relay chooses parents from it).
	if l := nodes[1].Load; l.Relays["r"] != (RelayLink{Parent: "node-0", Depth: 5}) || l.RelaysOut["r"] != 4 || l.RelayFanout != 4 {
		t.Fatalf("node-b's relay load %+v %+v %d", l.Relays, l.RelaysOut, l.RelayFanout)
	}
	n, ok, err := reg.Node(ctx, "node-b")
	if err != nil || !ok || n.URL != "http://10.0.0.2:8080" || time.Since(n.Seen) > 5*time.Second {
		t.Fatalf("node-b %+v %v %v", n, ok, err)
	}
	if v, err := reg.RoomViewers(ctx, "r"); err != nil || v["node-a"] != 3 || v["node-b"] != 5 {
		t.Fatalf("room viewers %v %v", v, err)
	}
	// A node that stops says so; one that dies expires after the TTL.
	stopA()
	testkit.Eventually(t, ctx, "node-a deregistered", func() bool {
		_, ok, _ := reg.Node(ctx, "node-a")
		return !ok
	})
	b.Crash() // its heartbeats fail from now on
	dead := time.Now()
	observer := newTestRedis(t, srv.URL(), "observer").Registry()
	testkit.Eventually(t, ctx, "node-b expired", func() bool {
		nodes, err := observer.Nodes(ctx)
		return err == nil && len(nodes) == 0
	})
	if since := time.Since(dead); since > 5*time.Second {
		t.Errorf("node-b expired after %s, its TTL is 600ms", since)
	}
}

func TestMemoryRegistry(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	reg := NewMemoryRegistry()
	reg.Heartbeat = 20 * time.Millisecond
	actx, stop := context.WithCancel(ctx)
	if err := reg.Register(actx, NodeInfo{ID: "a", URL: "http://a"}, func() Load { return Load{RoomViewers: map[string]int{"r": 2}} }); err != nil {
		t.Fatal(err)
	}
	if n, ok, _ := reg.Node(ctx, "a"); !ok || n.URL != "http://a" {
		t.Fatalf("node %+v %v", n, ok)
	}
	if v, _ := reg.RoomViewers(ctx, "r"); v["a"] != 2 {
		t.Fatalf("viewers %v", v)
	}
	stop()
	testkit.Eventually(t, ctx, "node a gone", func() bool {
		nodes, _ := reg.Nodes(ctx)
		return len(nodes) == 0
	})
}

func TestMemoryFor(t *testing.T) {
	ctx := context.Background()
	a := NewMemory("a")
	b := a.For("b")
	c, err := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if owner, ok, _ := b.Owner(ctx, "r", Publisher); !ok || owner != c || owner.Node != "a" {
		t.Fatalf("owner seen from b: %+v %v", owner, ok)
	}
	if c2, err := b.Claim(ctx, Request{Room: "q", Kind: Publisher, Holder: "s2"}); err != nil || c2.Node != "b" || c2.Token <= c.Token {
		t.Fatalf("claim by b: %+v %v", c2, err)
	}
}
