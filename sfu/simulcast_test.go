package sfu_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// simulcastPublisher publishes three VP8 layers (rid l, m, h) the way browsers do.
func simulcastPublisher(t *testing.T, ctx context.Context, url string) map[string]*webrtc.TrackLocalStaticRTP {
	layers, _ := simulcastPublisherPLI(t, ctx, url)
	return layers
}

// simulcastPublisherPLI also reports, per layer, whether a keyframe was asked for (PLI).
func simulcastPublisherPLI(t *testing.T, ctx context.Context, url string) (map[string]*webrtc.TrackLocalStaticRTP, map[string]*atomic.Bool) {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(testkit.LoopbackSettingEngine())).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	layers := map[string]*webrtc.TrackLocalStaticRTP{}
	var tr *webrtc.RTPTransceiver
	for _, rid := range []string{"h", "m", "l"} {
		track, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "sim", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		layers[rid] = track
		if tr == nil {
			tr, err = pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		} else {
			err = tr.Sender().AddEncoding(track)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	keyReq := map[string]*atomic.Bool{}
	for rid := range layers {
		keyReq[rid] = &atomic.Bool{}
		go func() {
			for {
				pkts, _, err := tr.Sender().ReadSimulcastRTCP(rid)
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						keyReq[rid].Store(true)
					}
				}
			}
		}()
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, answer := testnode.PostOffer(t, url, pc.LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("simulcast publish: %d %s", resp.StatusCode, answer)
	}
	t.Cleanup(func() { testnode.DeleteResource(url, resp.Header.Get("Location")) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return layers, keyReq
}

// simSender paces three synthetic VP8 layers, each payload tagged with its rid, a keyframe
// every 10 frames per layer; stopped layers send nothing.
type simSender struct {
	t       *testing.T
	layers  map[string]*webrtc.TrackLocalStaticRTP
	seq     map[string]uint16
	stopped map[string]bool
	mu      sync.Mutex
	frame   int
}

func (s *simSender) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frame++
	for _, rid := range []string{"l", "m", "h"} {
		if s.stopped[rid] {
			continue
		}
		payload := []byte{0x10, 0x01, 0, 0, rid[0]} // VP8 descriptor S=1, delta frame tag
		if s.frame%10 == 0 {
			payload[1] = 0x00 // keyframe (P bit 0)
		}
		s.seq[rid]++
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: s.seq[rid], Timestamp: uint32(s.frame) * 3000}, Payload: payload}
		// pion does not add mid/rid itself; browsers do. IDs as in pion's offer (extmap 1, 2).
		_ = pkt.Header.SetExtension(1, []byte("0"))
		_ = pkt.Header.SetExtension(2, []byte(rid))
		_ = s.layers[rid].WriteRTP(pkt)
	}
}

func (s *simSender) stop(rid string) {
	s.mu.Lock()
	s.stopped[rid] = true
	s.mu.Unlock()
}

// run ticks at 30 fps until ctx ends.
func (s *simSender) run(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(33 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				s.tick()
			}
		}
	}()
}

func startSimulcast(t *testing.T, ctx context.Context, srv *testnode.Node, room string) *simSender {
	t.Helper()
	s := &simSender{t: t, layers: simulcastPublisher(t, ctx, srv.WHIP(room)), seq: map[string]uint16{}, stopped: map[string]bool{}}
	streamCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	s.run(streamCtx, &wg)
	t.Cleanup(func() { stop(); wg.Wait() })
	testkit.Eventually(t, ctx, "three layers in the room", func() bool {
		info, ok := srv.SFU.Room(room)
		return ok && info.Live && len(info.Tracks) == 1 && strings.Join(info.Tracks[0].Layers, ",") == "h,l,m"
	})
	return s
}

// lastLayer is the rid tag of the newest video packet the viewer got.
func lastLayer(rec *testnode.Received) byte {
	got, _ := rec.Snapshot("video")
	if len(got) == 0 {
		return 0
	}
	p := got[len(got)-1]
	return p[len(p)-1]
}

func TestSimulcastPublisherViewerGetsTheTopLayer(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	startSimulcast(t, ctx, srv, "sim")
	_, rec := srv.Play(t, ctx, "sim")
	testkit.Eventually(t, ctx, "top-layer video at the viewer", func() bool { return rec.Count("video") >= 20 })
	got, _ := rec.Snapshot("video")
	for _, p := range got {
		if p[len(p)-1] != 'h' {
			t.Fatalf("viewer got a packet of layer %q, want only h", p[len(p)-1:])
		}
	}
}

func setLayer(t *testing.T, url, layer string) {
	t.Helper()
	resp, err := http.Post(url+"/layer", "application/json", strings.NewReader(`{"maxLayer":"`+layer+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("layer %q: status %d", layer, resp.StatusCode)
	}
}

func TestViewerCapsItsLayerAndSwitchesAtKeyframes(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	startSimulcast(t, ctx, srv, "cap")
	viewer, rec := srv.Play(t, ctx, "cap")
	testkit.Eventually(t, ctx, "layer h", func() bool { return lastLayer(rec) == 'h' })
	for _, want := range []string{"l", "m", "auto"} {
		setLayer(t, viewer.Location(), want)
		tag := byte('h')
		if want != "auto" {
			tag = want[0]
		}
		testkit.Eventually(t, ctx, "layer "+want, func() bool { return lastLayer(rec) == tag })
	}
	got, seqs := rec.Snapshot("video")
	for i := 1; i < len(got); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence jumps %d → %d across layer switches", seqs[i-1], seqs[i])
		}
		if got[i][len(got[i])-1] != got[i-1][len(got[i-1])-1] && got[i][1]&0x01 != 0 {
			t.Fatalf("switch from %c to %c on a delta frame, want a keyframe", got[i-1][len(got[i-1])-1], got[i][len(got[i])-1])
		}
	}
	resp, err := http.Post(viewer.Location()+"/layer", "application/json", strings.NewReader(`{"maxLayer":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad layer: %d, want 400", resp.StatusCode)
	}
}

func TestViewersMoveOffALayerThatStops(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	sim := startSimulcast(t, ctx, srv, "drop")
	_, rec := srv.Play(t, ctx, "drop")
	testkit.Eventually(t, ctx, "layer h", func() bool { return lastLayer(rec) == 'h' })
	before := rec.Count("video")
	stopped := time.Now()
	sim.stop("h")
	testkit.Eventually(t, ctx, "layer m after h stopped", func() bool { return lastLayer(rec) == 'm' })
	t.Logf("moved to m %v after h stopped", time.Since(stopped).Round(10*time.Millisecond))
	_, seqs := rec.Snapshot("video")
	for i := before; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence jumps %d → %d when the layer stopped", seqs[i-1], seqs[i])
		}
	}
}
