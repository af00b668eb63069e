package cluster_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// nodeLease is the lease of the test nodes: renewals every 300 ms.
const nodeLease = 900 * time.Millisecond

// clusterNode is an in-process node with its own connection to the shared Redis.
type clusterNode struct {
	*testnode.Node
	Redis *cluster.Redis
}

// startClusterNode starts node id of the cluster on srv, registered with its URL.
func startClusterNode(t *testing.T, srv *redistest.Server, id string, replace bool) clusterNode {
	t.Helper()
	log, _ := testkit.NewLogger(t)
	r, err := cluster.NewRedis(context.Background(), cluster.RedisOptions{URL: srv.URL(), Node: id, Lease: nodeLease,
		Heartbeat: 200 * time.Millisecond, OpTimeout: 500 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() }) // after the node's SFU has closed (cleanups run last-first)
	n := testnode.Start(t, testnode.Options{
		SFU: func(o *sfu.Options) { o.Directory, o.ReplacePublisher = r, replace },
		Signaling: func(o *signaling.Options) {
			o.Directory, o.Nodes = r, r.Registry()
		},
	})
	if err := r.Registry().Register(n.Ctx, cluster.NodeInfo{ID: id, URL: n.URL}, nil); err != nil {
		t.Fatal(err)
	}
	return clusterNode{Node: n, Redis: r}
}

// postNoFollow POSTs a WHIP offer and returns the answer as it is, redirects included.
func postNoFollow(t *testing.T, url, offer string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Post(url, "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func publishOffer(t *testing.T) string {
	return testkit.PionOffer(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
}

// TestWHIPRedirectsToOwner: a publish to a node that does not own the room is sent to the
// owner with 307; a WHIP client follows it and gets the owner's answer.
func TestWHIPRedirectsToOwner(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := redistest.Start(t, "")
	a, b := startClusterNode(t, srv, "node-a", true), startClusterNode(t, srv, "node-b", true)
	first := a.Publish(t, ctx, "show")

	resp, body := postNoFollow(t, b.WHIP("show"), publishOffer(t))
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != a.WHIP("show") {
		t.Fatalf("publish to node-b: %d %q Location %q, want 307 to %s", resp.StatusCode, body, resp.Header.Get("Location"), a.WHIP("show"))
	}
	// A client that follows: node-a's policy (replace) makes it the room's publisher there.
	second := testnode.StartPublisher(t, ctx, b.WHIP("show"), client.Options{})
	if !strings.HasPrefix(second.Session.Location(), a.URL+"/whip/show/") {
		t.Fatalf("session at %s, want on node-a %s", second.Session.Location(), a.URL)
	}
	select {
	case <-first.Session.Done():
	case <-ctx.Done():
		t.Fatal("the replaced publisher was not closed")
	}
	if _, ok := b.SFU.Room("show"); ok {
		t.Fatal("node-b opened the room")
	}
}

// TestPublishRace: publishers racing for one room on two nodes: exactly one wins, the other
// is sent to the winner.
func TestPublishRace(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := redistest.Start(t, "")
	nodes := []clusterNode{startClusterNode(t, srv, "node-a", false), startClusterNode(t, srv, "node-b", false)}
	for round := range 5 {
		room := "race-" + string(rune('a'+round))
		offers := []string{publishOffer(t), publishOffer(t)}
		codes := make([]int, 2)
		locations := make([]string, 2)
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				resp, _ := postNoFollow(t, n.WHIP(room), offers[i])
				codes[i], locations[i] = resp.StatusCode, resp.Header.Get("Location")
			})
		}
		wg.Wait()
		winner := 0
		if codes[1] == http.StatusCreated {
			winner = 1
		}
		loser := 1 - winner
		if codes[winner] != http.StatusCreated || codes[loser] != http.StatusTemporaryRedirect || locations[loser] != nodes[winner].WHIP(room) {
			t.Fatalf("%s: answers %v, Locations %q: want one 201 and a 307 to the winner", room, codes, locations)
		}
		owner, ok, err := nodes[loser].Redis.Owner(ctx, room, cluster.Publisher)
		if err != nil || !ok || owner.Node != nodes[winner].Redis.Node() {
			t.Fatalf("%s: owner %+v %v %v", room, owner, ok, err)
		}
		testnode.DeleteResource(nodes[winner].WHIP(room), locations[winner])
	}
}

// TestFencedPublisherEnds: a node paused past its lease loses its room to another node;
// when it resumes, its renewal is refused and its publisher session ends.
func TestFencedPublisherEnds(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := redistest.Start(t, "")
	a, b := startClusterNode(t, srv, "node-a", false), startClusterNode(t, srv, "node-b", false)
	old := a.Publish(t, ctx, "room")
	a.Redis.StopRenewals() // node-a "paused"
	testkit.Eventually(t, ctx, "node-a's lease expired", func() bool {
		_, ok, err := b.Redis.Owner(ctx, "room", cluster.Publisher)
		return err == nil && !ok
	})
	b.Publish(t, ctx, "room") // the new owner
	a.Redis.RenewNow(ctx)     // node-a resumes: fenced
	select {
	case <-old.Session.Done():
	case <-ctx.Done():
		t.Fatal("the fenced publisher's session did not end")
	}
	a.WaitNotLive(t, ctx, "room")
	a.Logs.WaitFor(t, ctx, "room taken by another node: ending the publish", "fenced")
	owner, ok, _ := b.Redis.Owner(ctx, "room", cluster.Publisher)
	if !ok || owner.Node != "node-b" {
		t.Fatalf("owner %+v, want node-b", owner)
	}
}

// TestRedisRestartMidStream: Redis is killed while a room streams and comes back empty: the
// publisher and the viewer go on undisturbed, a new publish meanwhile gets 503, and the
// lease is re-asserted so that no other node can take the room.
func TestRedisRestartMidStream(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := redistest.Start(t, "")
	a, b := startClusterNode(t, srv, "node-a", false), startClusterNode(t, srv, "node-b", false)
	pub := a.Publish(t, ctx, "live")
	held, _, _ := a.Redis.Owner(ctx, "live", cluster.Publisher)
	viewer, got := a.Play(t, ctx, "live")
	pub.Prime(t, ctx, got)
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	go func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; streamCtx.Err() == nil; i++ {
			_ = pub.WriteVideo(testnode.KeyframePayload(i), true)
			_ = pub.WriteAudio(testnode.AudioPayload(i))
			<-tick.C
		}
	}()

	srv.Kill()
	resp, body := postNoFollow(t, b.WHIP("other"), publishOffer(t))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cluster directory unavailable") {
		t.Fatalf("publish while Redis is down: %d %q, want 503 cluster directory unavailable", resp.StatusCode, body)
	}
	before := got.Count("video")
	time.Sleep(3 * nodeLease) // longer than a lease: renewals fail meanwhile
	if got.Count("video") <= before {
		t.Fatal("the viewer stopped receiving while Redis was down")
	}
	srv.Restart()
	testkit.Eventually(t, ctx, "lease re-asserted", func() bool {
		c, ok, err := b.Redis.Owner(ctx, "live", cluster.Publisher)
		return err == nil && ok && c == held
	})
	resp, _ = postNoFollow(t, b.WHIP("live"), publishOffer(t))
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("publish of the held room on node-b after the restart: %d, want 307 to node-a", resp.StatusCode)
	}
	after := got.Count("video")
	testkit.Eventually(t, ctx, "video after the restart", func() bool { return got.Count("video") > after+10 })
	for _, s := range []*client.Session{pub.Session, viewer} {
		select {
		case <-s.Done():
			t.Fatalf("session %s ended", s.Location())
		default:
		}
	}
	if info, ok := a.SFU.Room("live"); !ok || !info.Live || info.Viewers != 1 {
		t.Fatalf("room after the restart: %+v %v", info, ok)
	}
	if a.Logs.Contains("lease lost") {
		t.Fatal("node-a lost its lease")
	}
}
