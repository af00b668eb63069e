package sfu_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// TestViewerRTCPSurvivesAPacketTheInterceptorsCannotParse: a truncated transport-cc feedback
// from a viewer (pion's GCC interceptor fails to unmarshal it, and the read fails) is that
// packet's loss only: the viewer's keyframe requests sent afterwards still reach the SFU (its
// RTCP loop used to end at the first read error, deaf to the viewer from then on).
func TestViewerRTCPSurvivesAPacketTheInterceptorsCannotParse(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n := testnode.Start(t, testnode.Options{})
	pub := n.Publish(t, ctx, "rtcp")
	go pub.Feed(ctx)
	sess, rec := n.Play(t, ctx, "rtcp")
	testkit.Eventually(t, ctx, "video at the viewer", func() bool { return rec.Count("video") >= 10 })
	pc := sess.PeerConnection()
	var ssrc uint32
	for _, r := range pc.GetReceivers() {
		if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			ssrc = uint32(tr.SSRC())
		}
	}
	if ssrc == 0 {
		t.Fatal("no video track at the viewer")
	}
	// Transport-cc feedback (PT 205, FMT 15) that announces 100 packet statuses and has none.
	broken := make([]byte, 20)
	broken[0], broken[1], broken[3] = 0x80|15, 205, 4
	binary.BigEndian.PutUint32(broken[4:], 1)
	binary.BigEndian.PutUint32(broken[8:], ssrc)
	binary.BigEndian.PutUint16(broken[14:], 100)
	if _, err := rtcp.Unmarshal(broken); err == nil {
		t.Fatal("the broken feedback parses; the test would prove nothing")
	}
	before := n.SFU.Totals().PLIsIn
	for range 3 {
		if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}, (*rtcp.RawPacket)(&broken)}); err != nil {
			t.Fatalf("write the broken packet: %v", err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	afterBroken := n.SFU.Totals().PLIsIn
	testkit.Eventually(t, ctx, "keyframe requests after the broken packets reach the SFU", func() bool {
		_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		return n.SFU.Totals().PLIsIn > afterBroken
	})
	t.Logf("PLIs counted: %d with the broken packets, %d after", afterBroken-before, n.SFU.Totals().PLIsIn-afterBroken)
}
