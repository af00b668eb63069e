package sfu_test

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
)

func TestLocalPublisherReachesWHEPViewers(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	video := &webrtc.RTPCodecParameters{RTPCodecCapability: testnode.H264Codec(), PayloadType: 96}
	audio := &webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	var keyframeRequests atomic.Int32
	pub, err := srv.SFU.PublishLocal("local", video, audio, func() { keyframeRequests.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := srv.SFU.PublishLocal("local", video, nil, nil); err != sfu.ErrRoomBusy {
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
	write("video", testnode.KeyframePayload(0))
	srv.WaitLive(t, ctx, "local")
	_, rec := srv.Play(t, ctx, "local")
	testkit.Eventually(t, ctx, "media from the local publisher", func() bool {
		write("video", testnode.KeyframePayload(1))
		write("audio", testnode.AudioPayload(1))
		return rec.Count("video") > 0 && rec.Count("audio") > 0
	})
	write("video", testnode.DeltaPayload(42))
	testkit.Eventually(t, ctx, "the delta frame", func() bool {
		got, _ := rec.Snapshot("video")
		return bytes.Equal(got[len(got)-1], testnode.DeltaPayload(42))
	})
	if got, _ := rec.Snapshot("video"); !media.IsKeyframeStart(video.MimeType, got[0]) {
		t.Errorf("the viewer's first video packet % x is not a keyframe start", got[0])
	}
	if n := keyframeRequests.Load(); n != 0 {
		t.Errorf("the viewer's join asked the local publisher for %d keyframes; it starts at the cached one", n)
	}
	pub.Close()
	srv.WaitNotLive(t, ctx, "local")
	if err := pub.WriteRTP("video", []byte{0x80}); err == nil {
		t.Error("WriteRTP after Close succeeded")
	}
}

func TestLocalSubscriberGetsEveryPacketInOrder(t *testing.T) {
	ctx, srv, pub := testnode.StartRoom(t, 30*time.Second, "tap")
	var mu sync.Mutex
	var got [][]byte
	var discontinuities int
	sub, err := srv.SFU.SubscribeLocal(ctx, "tap", func(p sfu.LocalPacket) {
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
		p := testnode.DeltaPayload(i)
		sent = append(sent, p)
		pub.SendVideo(t, p, true)
		time.Sleep(time.Millisecond)
	}
	testkit.Eventually(t, ctx, "every packet at the local subscriber", func() bool {
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
