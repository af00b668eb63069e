package signaling

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/media"
)

func TestPublisherReconnectKeepsViewersPlaying(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	srv := newTestServer(t, nil)
	first := startPublisher(t, ctx, srv.url+"/whip/re", client0())
	first.goLive(t, ctx, srv, "re")
	viewer, rec := startViewer(t, ctx, srv.url+"/whep/re")
	first.prime(t, ctx, rec)
	for i := 1; i <= 50; i++ {
		first.sendVideo(t, deltaPayload(i), true)
		time.Sleep(2 * time.Millisecond)
	}
	eventually(t, ctx, "first publisher's media", func() bool { return rec.count("video") >= 45 })
	if err := first.sess.Close(ctx); err != nil {
		t.Fatalf("first publisher DELETE: %v", err)
	}
	srv.waitLive(t, ctx, "re", false)
	before := rec.count("video")

	second := startPublisher(t, ctx, srv.url+"/whip/re", client0())
	second.vseq, second.vts = 40000, 7777777 // unrelated numbering, as a new encoder would have
	second.goLive(t, ctx, srv, "re")
	for i := 1; i <= 50; i++ {
		second.sendVideo(t, deltaPayload(1000+i), true)
		time.Sleep(2 * time.Millisecond)
	}
	eventually(t, ctx, "second publisher's media at the same viewer", func() bool { return rec.count("video") >= before+40 })
	select {
	case <-viewer.Done():
		t.Fatal("viewer session ended across the publisher's reconnect")
	default:
	}
	got, seqs := rec.snapshot("video")
	if !media.IsKeyframeStart("video/H264", got[before]) {
		t.Errorf("first packet after the reconnect is not a keyframe")
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence jumps from %d to %d at packet %d (reconnect at %d)", seqs[i-1], seqs[i], i, before)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ssrcs["video"]) != 1 {
		t.Errorf("viewer saw SSRCs %v, want one", rec.ssrcs["video"])
	}
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
	ctx := testContext(t, 30*time.Second)
	srv := newTestServer(t, nil) // ICE timeout 3 s
	hole := &blackholeConn{PacketConn: loopbackUDP(t)}
	mux := webrtc.NewICEUDPMux(nil, hole)
	defer mux.Close()
	opts := client.Options{SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) }}
	pub := startPublisher(t, ctx, srv.url+"/whip/gone", opts)
	pub.goLive(t, ctx, srv, "gone")
	viewer, _ := startViewer(t, ctx, srv.url+"/whep/gone")

	events := readEvents(t, ctx, srv.url+"/api/rooms/gone/events")
	hole.dead.Store(true)
	start := time.Now()
	for e := range events {
		if e.name == "publisher" && strings.Contains(e.data, `"live":false`) {
			break
		}
	}
	t.Logf("publisher timed out after %v", time.Since(start).Round(100*time.Millisecond))
	eventually(t, ctx, "publisher session gone", func() bool { return srv.sfu.Totals().Publishers == 0 })
	select {
	case <-viewer.Done():
		t.Fatal("viewer was disconnected; it should stay and wait for the publisher")
	default:
	}
	if err := pub.sess.Close(ctx); err != nil {
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
