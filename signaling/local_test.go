package signaling

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
)

func TestLocalPublisherReachesWHEPViewers(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	srv := newTestServer(t, nil)
	video := &webrtc.RTPCodecParameters{RTPCodecCapability: h264Codec(), PayloadType: 96}
	audio := &webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	var keyframeRequests atomic.Int32
	pub, err := srv.sfu.PublishLocal("local", video, audio, func() { keyframeRequests.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := srv.sfu.PublishLocal("local", video, nil, nil); err != sfu.ErrRoomBusy {
		t.Fatalf("second local publisher: %v, want ErrRoomBusy", err)
	}
	var vseq, aseq uint16
	write := func(kind string, payload []byte) {
		seq := &vseq
		if kind == "audio" {
			seq = &aseq
		}
		*seq++
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: *seq, Timestamp: uint32(*seq) * 3000}, Payload: payload}).Marshal()
		if err := pub.WriteRTP(kind, b); err != nil {
			t.Fatal(err)
		}
	}
	write("video", keyframePayload(0))
	srv.waitLive(t, ctx, "local", true)
	_, rec := startViewer(t, ctx, srv.url+"/whep/local")
	eventually(t, ctx, "media from the local publisher", func() bool {
		write("video", keyframePayload(1))
		write("audio", audioPayload(1))
		return rec.count("video") > 0 && rec.count("audio") > 0
	})
	write("video", deltaPayload(42))
	eventually(t, ctx, "the delta frame", func() bool {
		got, _ := rec.snapshot("video")
		return bytes.Equal(got[len(got)-1], deltaPayload(42))
	})
	if got, _ := rec.snapshot("video"); !media.IsKeyframeStart(video.MimeType, got[0]) {
		t.Errorf("the viewer's first video packet % x is not a keyframe start", got[0])
	}
	if n := keyframeRequests.Load(); n != 0 {
		t.Errorf("the viewer's join asked the local publisher for %d keyframes; it starts at the cached one", n)
	}
	pub.Close()
	srv.waitLive(t, ctx, "local", false)
	if err := pub.WriteRTP("video", []byte{0x80}); err == nil {
		t.Error("WriteRTP after Close succeeded")
	}
}

func TestLocalSubscriberGetsEveryPacketInOrder(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	srv := newTestServer(t, nil)
	pub := startPublisher(t, ctx, srv.url+"/whip/tap", client0())
	pub.goLive(t, ctx, srv, "tap")
	var mu sync.Mutex
	var got [][]byte
	var discontinuities int
	sub, err := srv.sfu.SubscribeLocal(ctx, "tap", func(p sfu.LocalPacket) {
		if p.Kind != "video" {
			return
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(p.Data); err != nil {
			t.Errorf("unmarshal: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if p.Discontinuity {
			discontinuities++
		}
		got = append(got, append([]byte(nil), pkt.Payload...))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var sent [][]byte
	for i := 1; i <= 100; i++ {
		p := deltaPayload(i)
		sent = append(sent, p)
		pub.sendVideo(t, p, true)
		time.Sleep(time.Millisecond)
	}
	eventually(t, ctx, "every packet at the local subscriber", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && bytes.Equal(got[len(got)-1], sent[len(sent)-1])
	})
	mu.Lock()
	defer mu.Unlock()
	tail := got[len(got)-len(sent):]
	for i := range sent {
		if !bytes.Equal(tail[i], sent[i]) {
			t.Fatalf("packet %d differs or is out of order", i)
		}
	}
	if discontinuities != 1 {
		t.Errorf("%d discontinuities, want 1 (the start)", discontinuities)
	}
}
