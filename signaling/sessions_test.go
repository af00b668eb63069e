package signaling_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

func TestPublisherReconnectKeepsViewersPlaying(t *testing.T) {
	ctx, srv, first := testnode.StartRoom(t, 30*time.Second, "re")
	viewer, rec := srv.Play(t, ctx, "re")
	first.Prime(t, ctx, rec)
	for i := 1; i <= 50; i++ {
		first.SendVideo(t, testnode.DeltaPayload(i), true)
		time.Sleep(2 * time.Millisecond)
	}
	testkit.Eventually(t, ctx, "first publisher's media", func() bool { return deltasIn(rec, 1, 50) >= 45 })
	if err := first.Session.Close(ctx); err != nil {
		t.Fatalf("first publisher DELETE: %v", err)
	}
	srv.WaitNotLive(t, ctx, "re")

	second := testnode.StartPublisher(t, ctx, srv.WHIP("re"), client.Options{})
	second.Renumber(40000, 7777777) // unrelated numbering, as a new encoder would have
	second.GoLive(t, ctx, srv, "re")
	// The viewer moves to the new publisher when its track starts, and then waits for its next
	// keyframe (asking for one with a PLI, which this synthetic publisher does not answer):
	// keyframes go on, as an encoder answering the PLI would send them, until one is through.
	testkit.Eventually(t, ctx, "the second publisher's keyframe at the viewer", func() bool {
		second.SendVideo(t, testnode.KeyframePayload(reconnectKeyframe), true)
		return slices.ContainsFunc(rec.Packets("video"), func(p *rtp.Packet) bool {
			return bytes.Equal(p.Payload, testnode.KeyframePayload(reconnectKeyframe))
		})
	})
	for i := 1; i <= 50; i++ {
		second.SendVideo(t, testnode.DeltaPayload(1000+i), true)
		time.Sleep(2 * time.Millisecond)
	}
	testkit.Eventually(t, ctx, "second publisher's media at the same viewer", func() bool { return deltasIn(rec, 1001, 1050) >= 40 })
	select {
	case <-viewer.Done():
		t.Fatal("viewer session ended across the publisher's reconnect")
	default:
	}
	// The reconnect is after the first publisher's last delta: counting packets when the room
	// went off air would misplace it while some of them were still on their way to the viewer.
	got, seqs := rec.Snapshot("video")
	before := 0
	for i, p := range got {
		if n := deltaNumber(p); n >= 1 && n <= 50 {
			before = i + 1
		}
	}
	if before >= len(got) || !media.IsKeyframeStart("video/H264", got[before]) {
		t.Errorf("first packet after the reconnect (#%d of %d) is not a keyframe", before, len(got))
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence jumps from %d to %d at packet %d (reconnect at %d)", seqs[i-1], seqs[i], i, before)
		}
	}
	if ssrcs := rec.SSRCs("video"); len(ssrcs) != 1 {
		t.Errorf("viewer saw SSRCs %v, want one", ssrcs)
	}
}

// reconnectKeyframe is the counter of the second publisher's keyframes.
const reconnectKeyframe = 1000

// deltaNumber is the counter of a testnode.DeltaPayload, or -1 for any other payload.
func deltaNumber(p []byte) int {
	if len(p) != 200 || p[0] != 0x41 {
		return -1
	}
	return int(p[1])<<8 | int(p[2])
}

// deltasIn counts the video packets rec got whose DeltaPayload counter is in [lo, hi].
func deltasIn(rec *testnode.Received, lo, hi int) int {
	got, _ := rec.Snapshot("video")
	n := 0
	for _, p := range got {
		if c := deltaNumber(p); c >= lo && c <= hi {
			n++
		}
	}
	return n
}

// blackholeConn is a UDP socket that can be made to drop everything both ways, which is
// what a publisher that loses its network looks like to the server.
type blackholeConn struct {
	net.PacketConn
	dead atomic.Bool
}

func (c *blackholeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.dead.Load() {
			return n, addr, err
		}
	}
}

func (c *blackholeConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.dead.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

func TestVanishedPublisherIsTimedOutAndViewersAreTold(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{}) // ICE timeout 3 s
	hole := &blackholeConn{PacketConn: testkit.LoopbackUDP(t)}
	mux := webrtc.NewICEUDPMux(nil, hole)
	defer mux.Close()
	opts := client.Options{SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) }}
	pub := testnode.StartPublisher(t, ctx, srv.WHIP("gone"), opts)
	pub.GoLive(t, ctx, srv, "gone")
	viewer, _ := srv.Play(t, ctx, "gone")

	events := readEvents(t, ctx, srv.URL+"/api/rooms/gone/events")
	hole.dead.Store(true)
	start := time.Now()
	for e := range events {
		if e.name == "publisher" && strings.Contains(e.data, `"live":false`) {
			break
		}
	}
	t.Logf("publisher timed out after %v", time.Since(start).Round(100*time.Millisecond))
	testkit.Eventually(t, ctx, "publisher session gone", func() bool { return srv.SFU.Totals().Publishers == 0 })
	select {
	case <-viewer.Done():
		t.Fatal("viewer was disconnected; it should stay and wait for the publisher")
	default:
	}
	if err := pub.Session.Close(ctx); err != nil {
		t.Fatalf("DELETE of a session that timed out: %v (want 200: the resource is gone either way)", err)
	}
}

type sseEvent struct{ name, data string }

// readEvents follows a Server-Sent Events stream until ctx ends.
func readEvents(t *testing.T, ctx context.Context, url string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 64)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { resp.Body.Close() }) })
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			case line == "" && e.name != "":
				select {
				case ch <- e:
				case <-ctx.Done():
					return
				}
				e = sseEvent{}
			}
		}
	}()
	return ch
}

func TestViewerOverICETCP(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) { o.Transport.ICETCP = true }})
	pub := srv.Publish(t, ctx, "tcp")
	rec := testnode.NewReceived()
	opts := client.Options{LoopbackOnly: true, OnTrack: testnode.RecordTrack(rec), SettingEngine: func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}}
	sess, err := client.Play(ctx, srv.WHEP("tcp"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("ICE-TCP viewer did not connect: %v", err)
	}
	testkit.Eventually(t, ctx, "video over ICE-TCP", func() bool {
		pub.SendVideo(t, testnode.KeyframePayload(3), true)
		return rec.Count("video") > 3
	})
	pair, err := sess.PeerConnection().GetReceivers()[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
}

func TestPublicIPAndICEServerLinks(t *testing.T) {
	srv := testnode.Start(t, testnode.Options{
		SFU: func(o *sfu.Options) { o.Transport.PublicIPs = []string{"203.0.113.7"} },
		Signaling: func(o *signaling.Options) {
			o.ICEServers = []string{"stun:stun.example.org:3478", "turn:turn.example.org?transport=udp"}
		},
	})
	req, _ := http.NewRequest(http.MethodOptions, srv.WHIP("nat"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	links := resp.Header.Values("Link")
	if resp.StatusCode != http.StatusNoContent || len(links) != 2 || !strings.Contains(links[0], `<stun:stun.example.org:3478>; rel="ice-server"`) {
		t.Fatalf("OPTIONS: %d Link %q", resp.StatusCode, links)
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Location") {
		t.Fatalf("Location not exposed to browsers: %q", got)
	}

	// A sendonly offer without candidates: the server answers but never sends to anyone.
	offer := strings.ReplaceAll(testkit.PionOffer(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio), "a=recvonly", "a=sendonly")
	resp, answer := testnode.PostOffer(t, srv.WHIP("nat"), offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish: %d %s", resp.StatusCode, answer)
	}
	defer func() {
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+resp.Header.Get("Location"), nil)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	}()
	if !strings.Contains(answer, " 203.0.113.7 ") || strings.Contains(answer, " 127.0.0.1 ") {
		t.Fatalf("answer does not announce the public IP instead of the local one:\n%s", answer)
	}
	if len(resp.Header.Values("Link")) != 2 || resp.Header.Get("ETag") == "" {
		t.Fatalf("201 lacks Link or ETag headers: %v", resp.Header)
	}
}

func TestSessionsReleaseGoroutinesAndMemory(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	// No t.Cleanup in a cycle: the test must not itself keep the sessions alive.
	cycle := func() {
		pub, err := testnode.TryPublisher(ctx, srv.WHIP("cycle"), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pub.GoLive(t, ctx, srv, "cycle")
		rec := testnode.NewReceived()
		viewer, err := client.Play(ctx, srv.WHEP("cycle"), client.Options{LoopbackOnly: true, OnTrack: testnode.RecordTrack(rec)})
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, ctx, "media", func() bool {
			pub.SendVideo(t, testnode.KeyframePayload(1), true)
			return rec.Count("video") > 0
		})
		_ = viewer.Close(ctx)
		_ = pub.Session.Close(ctx)
		testkit.Eventually(t, ctx, "sessions gone", func() bool {
			tot := srv.SFU.Totals()
			return tot.Publishers == 0 && tot.Viewers == 0 && tot.Rooms == 0
		})
	}
	cycle()
	runtime.GC()
	baseG := runtime.NumGoroutine()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	for range 30 {
		cycle()
	}
	testkit.Eventually(t, ctx, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseG })
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapInuse) - int64(base.HeapInuse)
	t.Logf("goroutines %d→%d, heap in use %d→%d KiB after 30 publish/play/DELETE cycles", baseG, runtime.NumGoroutine(), base.HeapInuse>>10, after.HeapInuse>>10)
	if growth > 8<<20 {
		t.Fatalf("heap grew by %d KiB over 30 cycles", growth>>10)
	}
}
