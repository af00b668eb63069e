package sfu_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
)

// Joins against real pion peers on loopback: a viewer starts at the track's cached keyframe
// when it is recent (no keyframe request reaches the publisher), asks for one when it is
// not, and always starts at it for an in-process (RTMP/SRT) publisher.

// Source numbering of the encoders below: frame n (one packet) has sequence number
// srcSeq+n and timestamp srcTS+n*frameTicks, so a viewer's packets tell whether the
// timestamps are the source's own.
const (
	srcSeq     = 20000
	srcTS      = 900000
	frameTicks = 3000 // 30 fps at 90 kHz
)

// frameNumber reads the counter of a testnode keyframe or delta payload.
func frameNumber(payload []byte) int {
	if media.IsKeyframeStart(webrtc.MimeTypeH264, payload) {
		return int(payload[4])<<8 | int(payload[5])
	}
	return int(payload[1])<<8 | int(payload[2])
}

// encoder plays a live H.264 encoder at 30 fps, one packet per frame: a keyframe every gop
// frames, and one at once after each keyframe request that reached it.
type encoder struct {
	gop      int
	asked    atomic.Bool
	requests atomic.Int32 // keyframe requests (PLI, FIR) that reached the publisher
	write    func(pkt *rtp.Packet) error
}

// run sends frames until ctx or the test ends.
func (e *encoder) run(t *testing.T, ctx context.Context) {
	testkit.Go(t, ctx, func(ctx context.Context) {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		seq, ts := uint16(srcSeq), uint32(srcTS)
		for n := 0; ; n++ {
			payload := testnode.DeltaPayload(n)
			if n%e.gop == 0 || e.asked.Swap(false) {
				payload = testnode.KeyframePayload(n)
			}
			if e.write(testnode.RTPPacket(&seq, &ts, payload, true)) != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
}

// onRTCP counts the keyframe requests the publisher gets and asks the encoder for a keyframe.
func (e *encoder) onRTCP(_ webrtc.TrackLocal, pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			e.requests.Add(1)
			e.asked.Store(true)
		}
	}
}

// playJoin starts a viewer of room and waits for its first video packet; it returns what
// the viewer records and about how long the join took (WHEP request → first packet).
func playJoin(t *testing.T, ctx context.Context, n *testnode.Node, room string) (*testnode.Received, time.Duration) {
	t.Helper()
	start := time.Now()
	sess, rec := n.Play(t, ctx, room)
	testkit.Eventually(t, ctx, "video at the joining viewer", func() bool { return rec.Count("video") > 0 })
	join := time.Since(start).Round(time.Millisecond)
	fromCache, asked := joinStats(t, n, sess.Location())
	t.Logf("%s: a viewer joined, session stats: joins_from_cache %d, joins_with_keyframe_request %d", room, fromCache, asked)
	if fromCache+asked != 1 {
		t.Errorf("the viewer's session stats count %d joins from the cache and %d with a request, want one in all", fromCache, asked)
	}
	return rec, join
}

// joinStats reads how the viewer's video started from its session stats (GET /api/sessions/{id}).
func joinStats(t *testing.T, n *testnode.Node, location string) (fromCache, asked uint64) {
	t.Helper()
	for _, tr := range n.SessionStats(t, location).Tracks {
		if tr.Kind == "video" {
			fromCache, asked = fromCache+tr.JoinsFromCache, asked+tr.JoinsWithKeyframeRequest
		}
	}
	return fromCache, asked
}

// checkContinuous checks that the viewer's video starts at a keyframe and goes on without a
// gap: consecutive sequence numbers and frames, each with the source's own timestamp.
func checkContinuous(t *testing.T, name string, rec *testnode.Received) {
	t.Helper()
	pkts := rec.Packets("video")
	if len(pkts) == 0 || !media.IsKeyframeStart(webrtc.MimeTypeH264, pkts[0].Payload) {
		t.Fatalf("%s: the first video packet is not a keyframe start", name)
	}
	seen := map[uint16]bool{}
	prev := pkts[0]
	for _, p := range pkts {
		frame := frameNumber(p.Payload)
		if p.Timestamp != uint32(srcTS+frame*frameTicks) {
			t.Fatalf("%s: frame %d has timestamp %d, not the source's %d", name, frame, p.Timestamp, srcTS+frame*frameTicks)
		}
		if seen[p.SequenceNumber] {
			continue // a retransmission or a probe
		}
		seen[p.SequenceNumber] = true
		if p != pkts[0] && (p.SequenceNumber != prev.SequenceNumber+1 || frame != frameNumber(prev.Payload)+1) {
			t.Fatalf("%s: packet %d (frame %d) follows %d (frame %d)", name, p.SequenceNumber, frame,
				prev.SequenceNumber, frameNumber(prev.Payload))
		}
		prev = p
	}
}

// waitPackets waits until rec has n video packets.
func waitPackets(t *testing.T, ctx context.Context, rec *testnode.Received, n int) {
	t.Helper()
	testkit.Eventually(t, ctx, "video packets", func() bool { return rec.Count("video") >= n })
}

func TestJoinsStartAtTheCachedKeyframeOrAskForOne(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n := testnode.Start(t, testnode.Options{}) // cached keyframes up to 1 s old
	enc := &encoder{gop: 120}                  // a keyframe every 4 s
	pub := testnode.StartPublisher(t, ctx, n.WHIP("join"), client.Options{OnRTCP: enc.onRTCP})
	enc.write = pub.Video.WriteRTP
	enc.run(t, ctx)
	n.WaitLive(t, ctx, "join")

	// The first viewer joins 1.5 s into the GOP: the cached keyframe is too old, so it asks.
	time.Sleep(1500 * time.Millisecond)
	first, firstJoin := playJoin(t, ctx, n, "join")
	if enc.requests.Load() == 0 {
		t.Fatal("the first viewer's join (cached keyframe 1.5 s old) sent the publisher no keyframe request")
	}
	if tot := n.SFU.Totals(); tot.JoinsWithKeyframeRequest != 1 || tot.JoinsFromCache != 0 {
		t.Fatalf("joins with a keyframe request %d, from the cache %d; want 1, 0", tot.JoinsWithKeyframeRequest, tot.JoinsFromCache)
	}

	// The second joins 100 ms after the first got video: it starts at the keyframe the first
	// asked for, and no keyframe request reaches the publisher, however long we wait.
	time.Sleep(100 * time.Millisecond)
	before := enc.requests.Load()
	second, secondJoin := playJoin(t, ctx, n, "join")
	waitPackets(t, ctx, second, 30)
	time.Sleep(700 * time.Millisecond) // a throttled request would have gone by now
	if got := enc.requests.Load() - before; got != 0 {
		t.Fatalf("the second viewer's join sent %d keyframe requests to the publisher, want none", got)
	}
	if tot := n.SFU.Totals(); tot.JoinsFromCache != 1 || tot.JoinsWithKeyframeRequest != 1 {
		t.Fatalf("joins from the cache %d, with a keyframe request %d; want 1, 1", tot.JoinsFromCache, tot.JoinsWithKeyframeRequest)
	}
	t.Logf("first video after about %v (keyframe requested), %v (from the cache)", firstJoin, secondJoin)
	checkContinuous(t, "first viewer", first)
	checkContinuous(t, "second viewer", second)
}

func TestLocalPublisherViewersAlwaysStartAtTheCachedKeyframe(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n := testnode.Start(t, testnode.Options{})
	var requests atomic.Int32
	pub, err := n.SFU.PublishLocal("ingest", &webrtc.RTPCodecParameters{RTPCodecCapability: testnode.H264Codec(), PayloadType: 96},
		nil, func() { requests.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	enc := &encoder{gop: 60} // a keyframe every 2 s, as RTMP encoders send
	enc.write = func(pkt *rtp.Packet) error {
		b, err := pkt.Marshal()
		if err != nil {
			return err
		}
		return pub.WriteRTP("video", b)
	}
	enc.run(t, ctx)

	// 1.5 s into the GOP: older than a WebRTC publisher's bound, but an RTMP/SRT source
	// cannot be asked, so the viewer starts at the cached keyframe and catches up.
	time.Sleep(1500 * time.Millisecond)
	rec, join := playJoin(t, ctx, n, "ingest")
	waitPackets(t, ctx, rec, 60)
	if got := requests.Load(); got != 0 {
		t.Fatalf("the join asked the local publisher for %d keyframes, want none", got)
	}
	if tot := n.SFU.Totals(); tot.JoinsFromCache != 1 || tot.JoinsWithKeyframeRequest != 0 {
		t.Fatalf("joins from the cache %d, with a keyframe request %d; want 1, 0", tot.JoinsFromCache, tot.JoinsWithKeyframeRequest)
	}
	if first := rec.Packets("video")[0]; frameNumber(first.Payload) != 0 {
		t.Fatalf("the viewer started at frame %d, want the cached keyframe (frame 0)", frameNumber(first.Payload))
	}
	t.Logf("first video after about %v, from a keyframe 1.5 s old", join)
	checkContinuous(t, "viewer", rec)
}
