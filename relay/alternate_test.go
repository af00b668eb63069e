package relay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// TestRelayOfAnH265RoomNamesTheOriginsAlternate: b relays an H.265 room from a, whose
// H.264 alternate video (sfu.PublishAlternate) a relay does not carry. An H.265 viewer on b
// plays through the relay; an H.264-only viewer on b gets 406 naming the room's codec and
// the room's WHEP URL on a, where the same offer plays the alternate; once a's alternate is
// gone, b's 406 no longer sends viewers there.
func TestRelayOfAnH265RoomNamesTheOriginsAlternate(t *testing.T) {
	ctx := testkit.Context(t, 45*time.Second)
	r := newRoutes()
	a, b := startNode(t, r, "a", time.Minute), startNode(t, r, "b", time.Minute)
	r.route("b", "hevc", "a")
	h265 := webrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}}
	h264 := webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: testnode.H264Codec()}
	pub, err := a.SFU.PublishLocal("hevc", &h265, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	alt, err := a.SFU.PublishAlternate("hevc", h264, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alt.Close()
	feedCtx, stopFeed := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopFeed()
	wg.Go(func() { // a keyframe of each every 33 ms, one packet each
		hevcKey := []byte{19 << 1, 1, 0xaa, 0xbb} // an IDR_W_RADL single NAL unit packet
		for seq := uint16(1); feedCtx.Err() == nil; seq++ {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}}
			pkt.Payload = hevcKey
			b, _ := pkt.Marshal()
			_ = pub.WriteRTP("video", b)
			pkt.Payload = testnode.KeyframePayload(int(seq))
			b, _ = pkt.Marshal()
			_ = alt.WriteRTP("video", b)
			select {
			case <-feedCtx.Done():
			case <-time.After(33 * time.Millisecond):
			}
		}
	})
	a.WaitLive(t, ctx, "hevc")

	native := testnode.PlayCodecs(t, ctx, b.WHEP("hevc"), []webrtc.RTPCodecParameters{h265}, webrtc.RTPCodecTypeVideo)
	testkit.Eventually(t, ctx, "the H.265 viewer on b plays through the relay", func() bool { return native.Count("video") > 0 })
	refusal := func() string {
		_, err := client.Play(ctx, b.WHEP("hevc"), client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{h264}}, webrtc.RTPCodecTypeVideo)
		var he *client.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusNotAcceptable {
			t.Fatalf("H.264-only viewer on the relaying node: %v, want 406", err)
		}
		return he.Body
	}
	body := refusal()
	if !strings.Contains(body, "H265") || !strings.Contains(body, a.WHEP("hevc")) {
		t.Errorf("406 on the relaying node: %q; want the room's codec and %s", body, a.WHEP("hevc"))
	}
	t.Logf("406 on the relaying node: %s", body)
	avc := testnode.PlayCodecs(t, ctx, a.WHEP("hevc"), []webrtc.RTPCodecParameters{h264}, webrtc.RTPCodecTypeVideo)
	testkit.Eventually(t, ctx, "the same offer plays the alternate on the origin", func() bool { return avc.Count("video") > 0 })

	alt.Close()
	testkit.Eventually(t, ctx, "the relaying node's 406 without the origin's alternate", func() bool {
		body := refusal()
		return strings.Contains(body, "H265") && !strings.Contains(body, "/whep/")
	})
}
