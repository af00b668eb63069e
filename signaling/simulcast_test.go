package signaling

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// simulcastPublisher publishes three VP8 layers (rid l, m, h) the way browsers do.
func simulcastPublisher(t *testing.T, ctx context.Context, url string) map[string]*webrtc.TrackLocalStaticRTP {
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
	var se webrtc.SettingEngine
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
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
	go func() {
		for {
			if _, _, err := tr.Sender().ReadRTCP(); err != nil {
				return
			}
		}
	}()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, answer := post(t, url, pc.LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("simulcast publish: %d %s", resp.StatusCode, answer)
	}
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, strings.TrimSuffix(url, "/whip/"+lastPathPart(url))+resp.Header.Get("Location"), nil)
		if r, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return layers
}

func lastPathPart(u string) string { return u[strings.LastIndex(u, "/")+1:] }

func TestSimulcastPublisherViewerGetsTheTopLayer(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	srv := newTestServer(t, nil)
	layers := simulcastPublisher(t, ctx, srv.url+"/whip/sim")
	seq := map[string]uint16{}
	send := func(rid string, key bool) {
		payload := []byte{0x10, 0x01, 0, 0, rid[0]} // VP8 descriptor S=1, delta frame tag
		if key {
			payload[1] = 0x00 // keyframe (P bit 0)
		}
		seq[rid]++
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq[rid], Timestamp: uint32(seq[rid]) * 3000}, Payload: payload}
		// pion does not add mid/rid itself; browsers do. IDs as in pion's offer (extmap 1, 2).
		_ = pkt.Header.SetExtension(1, []byte("0"))
		_ = pkt.Header.SetExtension(2, []byte(rid))
		_ = layers[rid].WriteRTP(pkt)
	}
	eventually(t, ctx, "three layers in the room", func() bool {
		for _, rid := range []string{"l", "m", "h"} {
			send(rid, true)
		}
		info, ok := srv.sfu.Room("sim")
		return ok && info.Live && len(info.Tracks) == 1 && strings.Join(info.Tracks[0].Layers, ",") == "h,l,m"
	})
	_, rec := startViewer(t, ctx, srv.url+"/whep/sim")
	eventually(t, ctx, "top-layer video at the viewer", func() bool {
		for _, rid := range []string{"l", "m", "h"} {
			send(rid, false)
			send(rid, true)
		}
		return rec.count("video") >= 20
	})
	got, _ := rec.snapshot("video")
	for _, p := range got {
		if p[len(p)-1] != 'h' {
			t.Fatalf("viewer got a packet of layer %q, want only h", p[len(p)-1:])
		}
	}
}
