package sfu_test

import (
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// TestUnreadRTCPStreamsHoldLittle has a pion viewer send what browsers send, compound
// RTCP packets whose SDES chunk names an SSRC of the viewer's own, 200 times: pion opens a
// read stream for that SSRC that nobody reads, and it must hold no more than the unread
// limit (with pion's buffers it kept all 200), while the video sender's RTCP stream, which
// its downtrack reads, has been read and is drained.
func TestUnreadRTCPStreamsHoldLittle(t *testing.T) {
	probe := sfu.ProbeViewerReadBuffers(t)
	ctx, srv, pub := testnode.StartRoom(t, 30*time.Second, "rtcpbuf")
	viewer, rec := srv.Play(t, ctx, "rtcpbuf")
	pub.Prime(t, ctx, rec)
	var video uint32
	for ssrc := range rec.SSRCs("video") {
		video = ssrc
	}
	const own = 0x5eed5eed // the viewer's receive-only SSRC, as a browser's
	for i := range 200 {
		err := viewer.PeerConnection().WriteRTCP([]rtcp.Packet{
			&rtcp.ReceiverReport{SSRC: own, Reports: []rtcp.ReceptionReport{{SSRC: video, LastSequenceNumber: uint32(i)}}},
			&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
				Source: own, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "viewer"}},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	testkit.Eventually(t, ctx, "the unread stream capped, the sender's read and drained", func() bool {
		unread, sender := probe.Of(own), probe.Of(video)
		return len(unread) == 1 && !unread[0].Read && unread[0].Packets == sfu.UnreadBufferPackets &&
			len(sender) == 1 && sender[0].Read && sender[0].Packets == 0
	})
	t.Logf("unread stream %+v, video sender's %+v", probe.Of(own), probe.Of(video))
}
