package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/relay"
)

// streaming sends frames in the background until stop, which returns the last frame sent.
func streaming(t testing.TB, ctx context.Context, p *simPublisher) (stop func() int) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.stream(t, ctx, 1<<30) })
	var once sync.Once
	stop = func() int {
		once.Do(func() { cancel(); wg.Wait() })
		return p.frame
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitAll waits until every viewer has frame last and checks that none missed a frame.
func waitAll(t *testing.T, ctx context.Context, last int, viewers map[string]*frameViewer) {
	t.Helper()
	for name, v := range viewers {
		testkit.Eventually(t, ctx, "frame "+name+" gets the last frame", func() bool { return len(v.latencies(last, last)) == 1 })
		if miss := v.missing(last); len(miss) > 0 {
			t.Errorf("viewer %s missed %d frames of %d..%d: %v", name, len(miss), v.first, last, miss[:min(len(miss), 20)])
		}
	}
}

// TestRelayTree publishes to a; b relays from a, c from b (a tree of depth 2). Every viewer
// gets every frame, each node holds one relay whatever its viewers, relays are not viewers,
// and the capture-to-viewer latency per hop is measured (logged).
func TestRelayTree(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	r := newRoutes()
	a, b, c := startNode(t, r, "a", time.Minute), startNode(t, r, "b", time.Minute), startNode(t, r, "c", time.Minute)
	r.route("b", "tree", "a")
	r.route("c", "tree", "b")
	pub := startSimPublisher(t, ctx, a.WHIP("tree"))
	stop := streaming(t, ctx, pub)
	waitLayers(t, ctx, a, "tree")

	viewers := map[string]*frameViewer{"a": startFrameViewer(t, ctx, a.WHEP("tree"), client.Options{})}
	for _, name := range []string{"b1", "b2", "b3"} {
		viewers[name] = startFrameViewer(t, ctx, b.WHEP("tree"), client.Options{})
	}
	viewers["c"] = startFrameViewer(t, ctx, c.WHEP("tree"), client.Options{})
	for name, v := range viewers {
		testkit.Eventually(t, ctx, "viewer "+name+" plays", v.started)
	}
	measureFrom := int(pub.last.Load()) + 30 // after the joins' catch-up from the cached keyframe
	time.Sleep(4 * time.Second)
	last := stop()
	waitAll(t, ctx, last, viewers)

	for _, n := range []*clusterNode{b, c} {
		waitLayers(t, ctx, n, "tree")
	}
	checkRoom(t, a, "tree", 1, 1)
	checkRoom(t, b, "tree", 3, 1)
	checkRoom(t, c, "tree", 1, 0)
	for name, n := range map[string]*clusterNode{"b": b, "c": c} {
		if info := n.Relays.Relays()["tree"]; info.Connects != 1 || info.Users < 1 {
			t.Errorf("node %s relay: %+v, want one upstream session", name, info)
		}
		if tot := n.SFU.Totals(); tot.RelaysIn != 1 || tot.Publishers != 0 {
			t.Errorf("node %s: %d relays in, %d publishers; want 1 and 0", name, tot.RelaysIn, tot.Publishers)
		}
	}
	var listed map[string]relay.Info
	if err := getJSON(c.URL+"/api/relays", &listed); err != nil || listed["tree"].Upstream != "b" || listed["tree"].Users != 1 {
		t.Errorf("GET /api/relays on c: %+v (%v); want the room's relay from b with one user", listed, err)
	}
	if tot := a.SFU.Totals(); tot.RelaysOut != 1 || tot.Viewers != 1 {
		t.Errorf("node a: %d relays out, %d viewers; want 1 and 1", tot.RelaysOut, tot.Viewers)
	}
	if viewers["c"].audioPackets() == 0 {
		t.Error("the viewer on c got no audio through two relays")
	}
	for _, name := range []string{"a", "b1", "c"} {
		// Sender reports keep the publisher's clock across the hops: a frame's RTP time maps
		// to its capture time (the publisher's reports are of its send clock). Medians are
		// checked (see reportErrors): a stall of the test's publisher on a loaded machine
		// moves a few frames' stamps, or one report's pair, away from the truth.
		errs, ok := viewers[name].reportErrors(measureFrom, last)
		if !ok || stats.Quantile(errs, 0.5) > 20*time.Millisecond {
			t.Errorf("viewer on %s: sender report maps frames %v off their capture time (report: %v); want < 20ms", name, stats.Quantile(errs, 0.5), ok)
			for i, e := range viewers[name].errorsByReport(measureFrom, last) {
				t.Logf("viewer on %s: report %d maps frames p50 %v off", name, i, stats.Quantile(e, 0.5))
			}
		}
		if ok {
			t.Logf("viewer on %s: sender report mapping error p50 %v max %v", name, stats.Quantile(errs, 0.5), errs[len(errs)-1])
		}
		lat := viewers[name].latencies(measureFrom, last)
		slices.Sort(lat)
		t.Logf("capture→viewer on %s (%d hops): p50 %v p95 %v max %v over %d frames", name, strings.Index("abc", name[:1]),
			stats.Quantile(lat, 0.5), stats.Quantile(lat, 0.95), lat[len(lat)-1], len(lat))
	}
	for _, hop := range [][2]string{{"a", "b1"}, {"b1", "c"}} {
		extra := hopLatency(viewers[hop[0]], viewers[hop[1]], measureFrom, last)
		t.Logf("extra latency of the hop %s→%s, per frame: p50 %v p95 %v over %d frames", hop[0], hop[1],
			stats.Quantile(extra, 0.5), stats.Quantile(extra, 0.95), len(extra))
	}
}

// hopLatency is, per frame from..to that both viewers got, how much later it reached
// down than up, sorted.
func hopLatency(up, down *frameViewer, from, to int) []time.Duration {
	var out []time.Duration
	ups, downs := up.latencies(from, to), down.latencies(from, to)
	if len(ups) != len(downs) {
		return nil // a frame missing on one side (the test failed on it already)
	}
	for i := range ups {
		out = append(out, downs[i]-ups[i])
	}
	slices.Sort(out)
	return out
}

// waitLayers waits until n's room is live with the three simulcast layers.
func waitLayers(t testing.TB, ctx context.Context, n *clusterNode, room string) {
	t.Helper()
	testkit.Eventually(t, ctx, "three layers in "+room, func() bool {
		info, ok := n.SFU.Room(room)
		for _, tr := range info.Tracks {
			if tr.Kind == "video" && strings.Join(tr.Layers, ",") == "h,l,m" {
				return ok && info.Live
			}
		}
		return false
	})
}

func checkRoom(t *testing.T, n *clusterNode, room string, viewers, relays int) {
	t.Helper()
	info, _ := n.SFU.Room(room)
	if info.Viewers != viewers || info.Relays != relays {
		t.Errorf("room %s on %s: %d viewers, %d relays; want %d and %d", room, n.URL, info.Viewers, info.Relays, viewers, relays)
	}
}

// pair is an origin a, publishing room from a simulcast publisher, and an edge b that
// relays room from a (its relays lingering for linger).
type pair struct {
	ctx  context.Context
	a, b *clusterNode
	pub  *simPublisher
	stop func() int // stops the publisher's stream; the last frame sent
}

func startPair(t *testing.T, room string, linger time.Duration) pair {
	t.Helper()
	ctx := testkit.Context(t, 40*time.Second)
	r := newRoutes()
	p := pair{ctx: ctx, a: startNode(t, r, "a", time.Minute), b: startNode(t, r, "b", linger)}
	r.route("b", room, "a")
	p.pub = startSimPublisher(t, ctx, p.a.WHIP(room))
	p.stop = streaming(t, ctx, p.pub)
	waitLayers(t, ctx, p.a, room)
	return p
}

// TestRelayNackAnsweredAtEdge drops packets on the way to a viewer of b: b resends them from
// its own ring, and nothing is asked of a.
func TestRelayNackAnsweredAtEdge(t *testing.T) {
	p := startPair(t, "nack", time.Minute)
	ctx, a, b := p.ctx, p.a, p.b

	lossy := &testkit.LossyConn{PacketConn: testkit.LoopbackUDP(t), MinSize: 150}
	mux := webrtc.NewICEUDPMux(nil, lossy)
	t.Cleanup(func() { _ = mux.Close() })
	v := startFrameViewer(t, ctx, b.WHEP("nack"), client.Options{SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) }})
	testkit.Eventually(t, ctx, "the viewer plays", v.started)
	lossy.Drop.Store(3)
	testkit.Eventually(t, ctx, "three packets dropped", func() bool { return lossy.Dropped.Load() == 3 })
	time.Sleep(time.Second)
	last := p.stop()
	waitAll(t, ctx, last, map[string]*frameViewer{"b": v})

	bt, at := b.SFU.Totals(), a.SFU.Totals()
	t.Logf("edge: NACKs in %d, retransmits %d, NACKs upstream %d; origin: NACKs in %d", bt.NACKsIn, bt.Retransmits, bt.NACKsUpstream, at.NACKsIn)
	if bt.NACKsIn < 3 || bt.Retransmits < 3 {
		t.Errorf("edge answered %d of %d NACKs; want the 3 drops resent from its ring", bt.Retransmits, bt.NACKsIn)
	}
	if bt.NACKsUpstream != 0 || at.NACKsIn != 0 {
		t.Errorf("edge sent %d NACKs upstream, origin got %d; want none (the edge had the packets)", bt.NACKsUpstream, at.NACKsIn)
	}
}

// checkKeyframeRequestsCoalesced has every viewer of b ask for a keyframe ten times in
// 100 ms: a hears at most a couple per layer (b throttles per PLI interval, 200 ms here).
func checkKeyframeRequestsCoalesced(t *testing.T, a, b *clusterNode, viewers []*frameViewer) {
	t.Helper()
	aBefore, bBefore := a.SFU.Totals().PLIsIn, b.SFU.Totals().PLIsIn
	var wg sync.WaitGroup
	for _, v := range viewers {
		pc := v.Session.PeerConnection()
		var ssrc uint32
		for _, r := range pc.GetReceivers() {
			if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
				ssrc = uint32(tr.SSRC())
			}
		}
		wg.Go(func() {
			for range 10 {
				_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	testkit.Eventually(t, testkit.Context(t, 5*time.Second), "b hears the keyframe requests", func() bool {
		return b.SFU.Totals().PLIsIn-bBefore >= uint64(10*len(viewers))
	})
	time.Sleep(500 * time.Millisecond) // a pending request goes out after the interval
	up := a.SFU.Totals().PLIsIn - aBefore
	t.Logf("keyframe requests: %d from b's viewers, %d reached a", b.SFU.Totals().PLIsIn-bBefore, up)
	if up > 2*uint64(len(simulcastRIDs)) {
		t.Errorf("a got %d keyframe requests for b's %d; want at most 2 per layer", up, 10*len(viewers))
	}
}

// TestRelayOnePerRoomAndLinger: five viewers of b cost a one relay session; the relay stays
// for its linger after the last viewer leaves, then ends on both nodes.
func TestRelayOnePerRoomAndLinger(t *testing.T) {
	const linger = 2 * time.Second
	p := startPair(t, "many", linger)
	ctx, a, b := p.ctx, p.a, p.b

	var viewers []*frameViewer
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 5 {
		wg.Go(func() {
			v := startFrameViewer(t, ctx, b.WHEP("many"), client.Options{})
			mu.Lock()
			viewers = append(viewers, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, v := range viewers {
		testkit.Eventually(t, ctx, "viewer plays", v.started)
	}
	checkRoom(t, a, "many", 0, 1)
	checkRoom(t, b, "many", 5, 0)
	if info := b.Relays.Relays()["many"]; info.Connects != 1 || info.Users != 5 || info.Upstream != "a" {
		t.Fatalf("relay on b: %+v; want one session from a for 5 users", info)
	}
	checkKeyframeRequestsCoalesced(t, a, b, viewers)
	for _, v := range viewers {
		_ = v.Session.Close(ctx)
	}
	closed := time.Now()
	testkit.Eventually(t, ctx, "the relay without users", func() bool {
		info, ok := b.Relays.Relays()["many"]
		return !ok || info.Users == 0
	})
	if _, ok := b.Relays.Relays()["many"]; !ok || time.Since(closed) > linger {
		t.Errorf("relay gone %v after the last viewer left; want it lingering for %v", time.Since(closed), linger)
	}
	testkit.Eventually(t, ctx, "the relay ends after its linger", func() bool {
		info, _ := a.SFU.Room("many")
		_, relayed := b.Relays.Relays()["many"]
		return info.Relays == 0 && !relayed
	})
	if el := time.Since(closed); el < linger {
		t.Errorf("relay ended %v after the last viewer; want after the %v linger", el, linger)
	}
	testkit.Eventually(t, ctx, "b's room no longer live", func() bool { info, _ := b.SFU.Room("many"); return !info.Live })
}

// TestRelayFollowsOriginPublisherReconnect: a's publisher leaves, so b's room stops being
// live; another publisher comes to a, and b's viewer plays it in its same session through
// a new relay.
func TestRelayFollowsOriginPublisherReconnect(t *testing.T) {
	p := startPair(t, "re", time.Minute)
	ctx, a, b := p.ctx, p.a, p.b
	v := startFrameViewer(t, ctx, b.WHEP("re"), client.Options{})
	testkit.Eventually(t, ctx, "the viewer plays", v.started)
	p.stop()
	if err := p.pub.Session.Close(ctx); err != nil {
		t.Fatalf("publisher DELETE: %v", err)
	}
	testkit.Eventually(t, ctx, "b's room no longer live", func() bool { info, _ := b.SFU.Room("re"); return !info.Live })
	before := v.videoPackets()

	second := startSimPublisher(t, ctx, a.WHIP("re"))
	streaming(t, ctx, second)
	testkit.Eventually(t, ctx, "b's viewer plays the new publisher", func() bool { return v.videoPackets() > before+30 })
	select {
	case <-v.Session.Done():
		t.Fatal("the viewer's session ended")
	default:
	}
	if info := b.Relays.Relays()["re"]; info.Connects != 2 {
		t.Errorf("relay: %+v; want a second upstream session", info)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestRelayUpstreamWithoutTheRoom: the locator names a node where the room is not live (a
// stale registry): the viewer gets 502 with the reason, and no relay is left behind; a room
// the locator knows nowhere is the usual 404.
func TestRelayUpstreamWithoutTheRoom(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	r := newRoutes()
	startNode(t, r, "a", time.Minute)
	b := startNode(t, r, "b", time.Minute)
	r.route("b", "ghost", "a")
	for room, want := range map[string]int{"ghost": http.StatusBadGateway, "unknown": http.StatusNotFound} {
		_, err := client.Play(ctx, b.WHEP(room), client.Options{LoopbackOnly: true})
		var he *client.HTTPError
		if !errors.As(err, &he) || he.Status != want {
			t.Errorf("%s: %v; want %d", room, err, want)
		}
		if want == http.StatusBadGateway && !strings.Contains(he.Body, "cannot be relayed") {
			t.Errorf("%s: %q; want the reason", room, he.Body)
		}
	}
	if relays := b.Relays.Relays(); len(relays) != 0 {
		t.Errorf("relays left behind: %+v", relays)
	}
}
