package sfu_test

import (
	"context"
	"errors"
	"maps"
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
	"github.com/glint-video/glint/media"
)

// simulcastPublisher publishes three VP8 layers (rid l, m, h) the way browsers do.
func simulcastPublisher(t *testing.T, ctx context.Context, url string) map[string]*webrtc.TrackLocalStaticRTP {
	layers, _ := simulcastPublisherPLI(t, ctx, url)
	return layers
}

// newPeer is a pion PeerConnection of me, ir and se.
func newPeer(t *testing.T, me *webrtc.MediaEngine, ir *interceptor.Registry, se webrtc.SettingEngine) *webrtc.PeerConnection {
	t.Helper()
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// simulcastPublisherPLI also reports, per layer, whether a keyframe was asked for (PLI).
func simulcastPublisherPLI(t *testing.T, ctx context.Context, url string) (map[string]*webrtc.TrackLocalStaticRTP, map[string]*atomic.Bool) {
	t.Helper()
	me := &webrtc.MediaEngine{}
	ir := &interceptor.Registry{}
	if err := errors.Join(me.RegisterDefaultCodecs(), webrtc.RegisterDefaultInterceptors(me, ir),
		webrtc.ConfigureSimulcastExtensionHeaders(me)); err != nil {
		t.Fatal(err)
	}
	pc := newPeer(t, me, ir, testkit.LoopbackSettingEngine())
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
	offer, err := testnode.GatheredOffer(pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, answer := testnode.PostOffer(t, url, offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("simulcast publish: %d %s", resp.StatusCode, answer)
	}
	t.Cleanup(func() { testnode.DeleteResource(url, resp.Header.Get("Location")) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return layers, keyReq
}

// simulcastRIDs are the layers the test publishers send, lowest first.
var simulcastRIDs = []string{"l", "m", "h"}

// streamSimulcast sends a frame on every layer at 30 fps until ctx ends: frame returns the
// payloads of frame n (from 1) of layer rid, nil for none; the last gets the marker. Sequence
// numbers start after firstSeq (zero for a layer not in it). Packets carry the mid and rid
// header extensions as browsers send them (pion does not add them; IDs as in pion's offer).
func streamSimulcast(ctx context.Context, layers map[string]*webrtc.TrackLocalStaticRTP, firstSeq map[string]uint16,
	frame func(n int, rid string) [][]byte) {
	seq := maps.Clone(firstSeq)
	if seq == nil {
		seq = map[string]uint16{}
	}
	tk := time.NewTicker(33 * time.Millisecond)
	defer tk.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		for _, rid := range simulcastRIDs {
			payloads := frame(n, rid)
			for i, payload := range payloads {
				seq[rid]++
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: seq[rid],
					Timestamp: uint32(n) * 3000}, Payload: payload}
				_ = pkt.Header.SetExtension(1, []byte("0"))
				_ = pkt.Header.SetExtension(2, []byte(rid))
				_ = layers[rid].WriteRTP(pkt)
			}
		}
	}
}

// waitLayers waits until room has one video track with the three layers.
func waitLayers(t *testing.T, ctx context.Context, srv *testnode.Node, room string) {
	t.Helper()
	testkit.Eventually(t, ctx, "three layers in "+room, func() bool {
		info, ok := srv.SFU.Room(room)
		return ok && info.Live && len(info.Tracks) == 1 && strings.Join(info.Tracks[0].Layers, ",") == "h,l,m"
	})
}

// simSender sends three synthetic VP8 layers, one packet a frame tagged with its rid, a
// keyframe every 10 frames per layer; stopped layers send nothing.
type simSender struct {
	mu      sync.Mutex
	stopped map[string]bool
}

func (s *simSender) frame(n int, rid string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped[rid] {
		return nil
	}
	payload := []byte{0x10, 0x01, 0, 0, rid[0]} // VP8 descriptor S=1, delta frame tag
	if n%10 == 0 {
		payload[1] = 0x00 // keyframe (P bit 0)
	}
	return [][]byte{payload}
}

func (s *simSender) stop(rid string) {
	s.mu.Lock()
	s.stopped[rid] = true
	s.mu.Unlock()
}

func startSimulcast(t *testing.T, ctx context.Context, srv *testnode.Node, room string) *simSender {
	t.Helper()
	s := &simSender{stopped: map[string]bool{}}
	layers := simulcastPublisher(t, ctx, srv.WHIP(room))
	testkit.Go(t, ctx, func(ctx context.Context) { streamSimulcast(ctx, layers, nil, s.frame) })
	waitLayers(t, ctx, srv, room)
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

// vp8Numbered is a frame function for streamSimulcast whose payload descriptors number
// pictures the way independent encoders do (RFC 7741): each layer its own 15-bit PictureID
// and TL0PICIDX, far apart (one near the wrap). The last payload byte is the layer's rid.
func vp8Numbered(n int, rid string) [][]byte {
	picBase := map[string]int{"l": 32700, "m": 5, "h": 17000}
	tl0Base := map[string]int{"l": 250, "m": 0, "h": 100}
	pic, tl0 := (picBase[rid]+n)&0x7fff, (tl0Base[rid]+n)&0xff
	// X, S; I and L; 15-bit PictureID; TL0PICIDX; VP8 frame tag (P bit: delta).
	payload := []byte{0x90, 0xc0, 0x80 | byte(pic>>8), byte(pic), byte(tl0), 0x01, 0, 0, rid[0]}
	if n%10 == 0 {
		payload[5] = 0x00 // keyframe
	}
	return [][]byte{payload}
}

func TestVP8PictureIDsStayContinuousAcrossLayerSwitches(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	layers := simulcastPublisher(t, ctx, srv.WHIP("vp8num"))
	firstSeq := map[string]uint16{"l": 1, "m": 20000, "h": 50000}
	testkit.Go(t, ctx, func(ctx context.Context) { streamSimulcast(ctx, layers, firstSeq, vp8Numbered) })
	waitLayers(t, ctx, srv, "vp8num")
	viewer, rec := srv.Play(t, ctx, "vp8num")
	testkit.Eventually(t, ctx, "layer h", func() bool { return lastLayer(rec) == 'h' })
	for _, layer := range []string{"l", "m", "h", "l"} {
		setLayer(t, viewer.Location(), layer)
		testkit.Eventually(t, ctx, "layer "+layer, func() bool { return lastLayer(rec) == layer[0] })
		n := rec.Count("video")
		testkit.Eventually(t, ctx, "frames on layer "+layer, func() bool { return rec.Count("video") >= n+15 })
	}

	got, seqs := rec.Snapshot("video")
	switches, pictures := 0, 0
	var highest uint16
	var lastPic, lastTL0 int
	for i, p := range got {
		if len(p) < 9 || p[0]&0x80 == 0 || p[1]&0xc0 != 0xc0 {
			t.Fatalf("packet %d lost its descriptor fields: % x", i, p)
		}
		pic, tl0 := int(p[2]&0x7f)<<8|int(p[3]), int(p[4])
		if i > 0 && !media.SeqNewer(seqs[i], highest) {
			continue // a repair of a lost packet: arrived late, numbered as before
		}
		highest = seqs[i]
		if i > 0 {
			if p[len(p)-1] != got[i-1][len(got[i-1])-1] {
				switches++
			}
			// Each packet is one picture: the numbers go up by one (by a few if a picture was lost).
			if d := (pic - lastPic) & 0x7fff; d < 1 || d > 3 {
				t.Fatalf("packet %d (layer %c): PictureID %d after %d, want the next one", i, p[len(p)-1], pic, lastPic)
			}
			if d := (tl0 - lastTL0) & 0xff; d < 1 || d > 3 {
				t.Fatalf("packet %d (layer %c): TL0PICIDX %d after %d, want the next one", i, p[len(p)-1], tl0, lastTL0)
			}
		}
		lastPic, lastTL0 = pic, tl0
		pictures++
	}
	if switches < 4 {
		t.Fatalf("%d layer switches seen, want at least 4", switches)
	}
	t.Logf("%d pictures, %d layer switches, PictureIDs continuous", pictures, switches)
}
