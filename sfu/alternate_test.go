package sfu_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
)

// TestAlternateVideo: a room whose local publisher sends H.265 gets an alternate H.264
// video (PublishAlternate). A viewer offering H.265 gets the room's H.265, one offering
// only H.264 gets the alternate's packets (its keyframe at once, from the keyframe cache),
// one offering only VP8 gets 406 naming both codecs; after the alternate's publisher
// leaves, an H.264-only offer gets 406 again. An alternate never creates a room and is
// H.264 only.
func TestAlternateVideo(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	h265 := webrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}}
	h264 := webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: testnode.H264Codec()}
	vp8 := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	if _, err := srv.SFU.PublishAlternate("hevc", h264, nil); !errors.Is(err, sfu.ErrNoPublisher) {
		t.Fatalf("alternate of a room that does not exist: %v, want ErrNoPublisher", err)
	}
	pub, err := srv.SFU.PublishLocal("hevc", &h265, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := srv.SFU.PublishAlternate("hevc", vp8, nil); err == nil {
		t.Fatal("a VP8 alternate was accepted")
	}
	alt, err := srv.SFU.PublishAlternate("hevc", h264, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alt.Close()
	var seq uint16
	write := func(p interface{ WriteRTP(string, []byte) error }, payload []byte) {
		seq++
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: payload}).Marshal()
		if err := p.WriteRTP("video", b); err != nil {
			t.Fatal(err)
		}
	}
	hevcKey := []byte{19 << 1, 1, 0xaa, 0xbb} // an IDR_W_RADL single NAL unit packet
	write(pub, hevcKey)
	write(alt, testnode.KeyframePayload(1))
	srv.WaitLive(t, ctx, "hevc")
	if info, _ := srv.SFU.Room("hevc"); info.Alternate == nil || info.Alternate.Codec != "H264" {
		t.Fatalf("room info alternate %+v, want H264", info.Alternate)
	}
	native := testnode.PlayCodecs(t, ctx, srv.WHEP("hevc"), []webrtc.RTPCodecParameters{h265}, webrtc.RTPCodecTypeVideo)
	avc := testnode.PlayCodecs(t, ctx, srv.WHEP("hevc"), []webrtc.RTPCodecParameters{h264}, webrtc.RTPCodecTypeVideo)
	testkit.Eventually(t, ctx, "each viewer's keyframe", func() bool {
		write(pub, hevcKey)
		write(alt, testnode.KeyframePayload(2))
		return native.Count("video") > 0 && avc.Count("video") > 0
	})
	if got, _ := native.Snapshot("video"); !media.IsKeyframeStart(webrtc.MimeTypeH265, got[0]) {
		t.Errorf("the H.265 viewer's first packet % x is not an H.265 keyframe", got[0])
	}
	if got, _ := avc.Snapshot("video"); !media.IsKeyframeStart(webrtc.MimeTypeH264, got[0]) {
		t.Errorf("the H.264 viewer's first packet % x is not an H.264 keyframe", got[0])
	}
	t.Logf("H.265 viewer %d packets, H.264 viewer %d packets", native.Count("video"), avc.Count("video"))
	if n := alt.Viewers(); n != 1 {
		t.Errorf("alternate viewers %d, want 1", n)
	}
	check406 := func(codecs []webrtc.RTPCodecParameters, want ...string) {
		t.Helper()
		_, err := client.Play(ctx, srv.WHEP("hevc"), client.Options{LoopbackOnly: true, Codecs: codecs}, webrtc.RTPCodecTypeVideo)
		var he *client.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusNotAcceptable {
			t.Fatalf("offer of %s: %v, want 406", codecs[0].MimeType, err)
		}
		for _, w := range want {
			if !strings.Contains(he.Body, w) {
				t.Errorf("406 body %q does not name %s", he.Body, w)
			}
		}
	}
	check406([]webrtc.RTPCodecParameters{vp8}, "H265", "H264")
	alt.Close()
	if info, _ := srv.SFU.Room("hevc"); info.Alternate != nil {
		t.Errorf("room info alternate %+v after its publisher left", info.Alternate)
	}
	check406([]webrtc.RTPCodecParameters{h264}, "H265")
}
