package sfu_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
)

// temporalTIDs is libvpx's three-temporal-layer pattern, one TID per frame.
var temporalTIDs = []int{0, 2, 1, 2}

// temporalFrameBytes sizes frames at the full rate: at 30 fps TID 0 alone is ~150 kbit/s,
// TID 0-1 ~300, all ~600. A frame leaves the SFU as one burst, so it stays below what a
// 400 kbit/s bottleneck queues in 60 ms (3000 bytes): the losses the viewer sees are then
// those of a rate too high, not of one frame too big.
const temporalFrameBytes = 2400

// startTemporalPublisher publishes one VP8 track (no simulcast) whose frames carry TIDs,
// PictureIDs and TL0PICIDX (RFC 7741) as libvpx does with three temporal layers, a keyframe
// every 4 s and whenever the SFU asks, frames of frameBytes. The last payload byte of every
// packet is its TID.
func startTemporalPublisher(t *testing.T, ctx context.Context, srv *testnode.Node, room string, frameBytes int) {
	t.Helper()
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	track, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "temporal")
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{{RTPCodecCapability: vp8, PayloadType: 96}}}
	sess, err := client.Publish(ctx, srv.WHIP(room), []webrtc.TrackLocal{track}, opts)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, ctx, func(ctx context.Context) {
		plis := srv.SFU.Totals().PLIsUpstream
		var seq uint16 = 7000
		tk := time.NewTicker(33 * time.Millisecond)
		defer tk.Stop()
		tl0 := 200
		for frame := 0; ; frame++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			tid := temporalTIDs[frame%len(temporalTIDs)]
			key := frame%120 == 0
			if now := srv.SFU.Totals().PLIsUpstream; now != plis && tid == 0 {
				plis, key = now, true
			}
			if tid == 0 {
				tl0++
			}
			pic := (30000 + frame) & 0x7fff
			size := frameBytes
			for off := 0; off < size; off += 800 {
				n := min(800, size-off)
				payload := make([]byte, 6+n)
				// X; S on the frame's first packet. I, L, T; 15-bit PictureID; TL0PICIDX; TID/Y.
				payload[0], payload[1] = 0x80, 0xe0
				if off == 0 {
					payload[0] |= 0x10
				}
				payload[2], payload[3], payload[4], payload[5] = 0x80|byte(pic>>8), byte(pic), byte(tl0), byte(tid)<<6|0x20
				payload[6] = 0x01 // VP8 frame tag: P bit (delta)
				if key {
					payload[6] = 0x00
				}
				payload[len(payload)-1] = byte(tid)
				seq++
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: off+n >= size, SequenceNumber: seq, Timestamp: uint32(frame) * 3000}, Payload: payload})
			}
		}
	})
	srv.WaitLive(t, ctx, room)
}

// temporalView is what a viewer has of the stream: the TIDs of the newest packets, and
// whether its PictureIDs went on without a jump.
type temporalView struct {
	highestTID int
	jumps      int
}

// inspectTemporal looks at the viewer's packets from index from on (late repairs skipped).
func inspectTemporal(rec *testnode.Received, from int) temporalView {
	got, seqs := rec.Snapshot("video")
	v := temporalView{highestTID: -1}
	var highest uint16
	lastPic := -1
	for i := from; i < len(got); i++ {
		p := got[i]
		if len(p) < 8 || (lastPic >= 0 && !media.SeqNewer(seqs[i], highest)) {
			continue
		}
		highest = seqs[i]
		v.highestTID = max(v.highestTID, int(p[len(p)-1]))
		pic := int(p[2]&0x7f)<<8 | int(p[3])
		if lastPic >= 0 && pic != lastPic {
			if d := (pic - lastPic) & 0x7fff; d > 3 {
				v.jumps++
			}
		}
		lastPic = pic
	}
	return v
}

func testTemporalLayers(t *testing.T, r bweRate) {
	ctx := testkit.Context(t, 120*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	startTemporalPublisher(t, ctx, srv, "temporal", int(temporalFrameBytes*r.scale))
	time.Sleep(1200 * time.Millisecond) // bitrates per temporal layer are measured over a second

	joined := time.Now()
	link, rec, sess := shapedViewer(t, ctx, srv.WHEP("temporal"), r.kbps(400))
	var capped atomic.Int32
	capped.Store(-1)
	testkit.Eventually(t, ctx, fmt.Sprintf("the %d kbit/s viewer on a temporal cap below TID 2", r.kbps(400)), func() bool {
		for _, tr := range srv.SessionStats(t, sess.Location()).Tracks {
			if tr.Kind == "video" && tr.MaxTemporal != nil && *tr.MaxTemporal < 2 && !tr.Paused {
				capped.Store(*tr.MaxTemporal)
				return true
			}
		}
		return false
	})
	settled := time.Since(joined)
	time.Sleep(time.Second) // the cap takes effect at the next base-layer frame
	from := rec.Count("video")
	time.Sleep(3 * time.Second)
	v := inspectTemporal(rec, from)
	if n := rec.Count("video") - from; n < int(30*r.scale) {
		t.Fatalf("%d video packets in 3 s under the temporal cap: want video to go on", n)
	}
	if v.highestTID >= 2 {
		t.Fatalf("packets of TID %d arrived with the cap below 2 (at %d when first seen)", v.highestTID, capped.Load())
	}
	if v.jumps > 0 {
		t.Fatalf("PictureIDs jumped %d times across the dropped frames, want them continuous", v.jumps)
	}
	t.Logf("%d kbit/s viewer on a temporal cap (TID ≤ %d) %v after joining: video on, no TID 2, PictureIDs continuous",
		r.kbps(400), capped.Load(), settled.Round(100*time.Millisecond))

	link.setKbps(0)
	lifted := time.Now()
	from = rec.Count("video")
	testkit.Eventually(t, ctx, "all temporal layers again after the limit is lifted", func() bool { return inspectTemporal(rec, from).highestTID == 2 })
	t.Logf("all temporal layers back %v after the limit was lifted", time.Since(lifted).Round(100*time.Millisecond))
}
