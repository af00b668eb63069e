package relay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// TestRelayTreeCarriesTheOriginsAlternate: a publishes an H.265 room with its H.264
// alternate video; b relays it from a, c from b. The first viewer of b offers only H.264:
// it waits while b's relay starts and brings the alternate, and plays it (no 406); an
// H.264-only viewer of c plays it through two relays. Both decode every frame. A keyframe
// request of c's viewer reaches the alternate's source on a. The alternate's relay
// sessions are not counted as relays (fan-out). Then b goes away and c re-attaches to a:
// c's viewer keeps its session and plays on, every frame decoding.
func TestRelayTreeCarriesTheOriginsAlternate(t *testing.T) {
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 90*time.Second)
	r := newRoutes()
	a, b, c := startNode(t, r, "a", time.Minute), startNode(t, r, "b", time.Minute), startNode(t, r, "c", time.Minute)
	r.route("b", "hevc", "a")
	r.route("c", "hevc", "b")
	room := startHEVCRoom(t, ctx, a, "hevc")
	room.startAlternate()
	testkit.Eventually(t, ctx, "a's alternate video", func() bool { info, _ := a.SFU.Room("hevc"); return info.Alternate != nil })

	offered := time.Now()
	_, onB, err := playH264(t, ctx, b.WHEP("hevc"))
	if err != nil {
		t.Fatalf("first viewer of b, H.264 only: %v; want the relayed alternate", err)
	}
	answered := time.Since(offered)
	testkit.Eventually(t, ctx, "b's first viewer's first frame", func() bool { return frames(onB) > 0 })
	t.Logf("first viewer of b (starting its relay and the alternate's): answer %v, first frame %v after the offer",
		answered.Round(time.Millisecond), time.Since(offered).Round(time.Millisecond))
	native := testnode.PlayCodecs(t, ctx, b.WHEP("hevc"), []webrtc.RTPCodecParameters{h265Codec}, webrtc.RTPCodecTypeVideo)
	cViewer, onC, err := playH264(t, ctx, c.WHEP("hevc"))
	if err != nil {
		t.Fatalf("H.264-only viewer of c: %v; want the alternate relayed twice", err)
	}
	testkit.Eventually(t, ctx, "the viewers play", func() bool {
		return native.Count("video") > 0 && frames(onB) >= 90 && frames(onC) >= 90
	})
	checkDecodes(t, ctx, "b's H.264-only viewer", onB, 60)
	checkDecodes(t, ctx, "c's H.264-only viewer", onC, 60)
	for _, n := range []*clusterNode{a, b} {
		if info, _ := n.SFU.Room("hevc"); info.Relays != 1 || info.Alternate == nil {
			t.Errorf("%s's room: %d relays, alternate %v; want 1 (a node's alternate session is no second relay) and the alternate",
				n.URL, info.Relays, info.Alternate)
		}
	}
	checkKeyframeRequestReachesOrigin(t, ctx, room, cViewer, onC)

	// c re-attaches to a when b goes away.
	r.route("c", "hevc", "a")
	before := frames(onC)
	b.Relays.Close()
	testkit.Eventually(t, ctx, "c's H.264-only viewer plays after c re-attached to a", func() bool {
		return frames(onC) > before+60 && c.Relays.Relays()["hevc"].Upstream == "a"
	})
	select {
	case <-cViewer.Done():
		t.Fatal("c's H.264-only viewer lost its session")
	default:
	}
	checkDecodes(t, ctx, "c's H.264-only viewer across the re-attach", onC, before+60)
}

// TestRelayFollowsTheOriginsAlternate: b relays an H.265 room from a, which has no
// alternate video yet, so an H.264-only viewer of b is refused (406 naming the room's
// codec). The alternate appears on a (its ladder started after the relay): b brings it,
// and an H.264-only viewer of b plays it. a's publisher and ladder restart: b's relay
// reconnects, and the viewer plays on in its same session, every frame decoding. The
// ladder stops: b's room loses the alternate, and the refusal is back.
func TestRelayFollowsTheOriginsAlternate(t *testing.T) {
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 90*time.Second)
	r := newRoutes()
	a, b := startNode(t, r, "a", time.Minute), startNode(t, r, "b", time.Minute)
	r.route("b", "hevc", "a")
	room := startHEVCRoom(t, ctx, a, "hevc")
	native := testnode.PlayCodecs(t, ctx, b.WHEP("hevc"), []webrtc.RTPCodecParameters{h265Codec}, webrtc.RTPCodecTypeVideo)
	testkit.Eventually(t, ctx, "the H.265 viewer of b plays", func() bool { return native.Count("video") > 0 })
	if body := refusal(t, ctx, b.WHEP("hevc")); !strings.Contains(body, "H265") || strings.Contains(body, "/whep/") {
		t.Errorf("H.264-only viewer of b without an alternate anywhere: 406 %q; want the room's codec, no URL", body)
	}

	room.startAlternate()
	viewer := testnode.PlayCodecs(t, ctx, b.WHEP("hevc"), []webrtc.RTPCodecParameters{h264Codec}, webrtc.RTPCodecTypeVideo)
	testkit.Eventually(t, ctx, "b's H.264-only viewer plays the alternate that came later", func() bool { return frames(viewer) >= 30 })

	room.stopAlternate()
	room.stopPublisher()
	testkit.Eventually(t, ctx, "b's room no longer live", func() bool { info, _ := b.SFU.Room("hevc"); return !info.Live })
	before := frames(viewer)
	room.startPublisher()
	room.startAlternate()
	testkit.Eventually(t, ctx, "b's H.264-only viewer plays again after the relay reconnected", func() bool {
		return frames(viewer) > before+60
	})
	checkDecodes(t, ctx, "b's H.264-only viewer across the reconnect", viewer, before+60)
	if info := b.Relays.Relays()["hevc"]; info.Connects != 2 {
		t.Errorf("b's relay: %+v; want a second upstream session", info)
	}

	room.stopAlternate()
	testkit.Eventually(t, ctx, "b's room without the alternate once a's is gone", func() bool {
		info, _ := b.SFU.Room("hevc")
		return info.Alternate == nil
	})
	if body := refusal(t, ctx, b.WHEP("hevc")); !strings.Contains(body, "H265") || strings.Contains(body, "/whep/") {
		t.Errorf("H.264-only viewer of b after a's alternate ended: 406 %q; want the room's codec, no URL", body)
	}
}

// playH264 starts a viewer that offers only H.264 (a browser without an H.265 decoder),
// recording what it receives; its session closes at the end of the test.
func playH264(t *testing.T, ctx context.Context, whep string) (*client.Session, *testnode.Received, error) {
	rec := testnode.NewReceived()
	sess, err := client.Play(ctx, whep, client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{h264Codec},
		OnTrack: testnode.RecordTrack(rec)}, webrtc.RTPCodecTypeVideo)
	if err == nil {
		t.Cleanup(func() { _ = sess.Close(context.Background()) })
	}
	return sess, rec, err
}

// refusal is the body of the 406 an H.264-only viewer of whep gets.
func refusal(t *testing.T, ctx context.Context, whep string) string {
	t.Helper()
	sess, _, err := playH264(t, ctx, whep)
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotAcceptable {
		if sess != nil {
			_ = sess.Close(ctx)
		}
		t.Fatalf("H.264-only viewer of %s: %v; want 406", whep, err)
	}
	return he.Body
}

// frames counts the video frames (marker bits) rec received.
func frames(rec *testnode.Received) int {
	n := 0
	for _, p := range rec.Packets("video") {
		if p.Marker {
			n++
		}
	}
	return n
}

// checkKeyframeRequestReachesOrigin: once the alternate's source has had no keyframe
// request for a second, keyframe requests (PLI) of viewer reach it.
func checkKeyframeRequestReachesOrigin(t *testing.T, ctx context.Context, room *hevcRoom, viewer *client.Session, rec *testnode.Received) {
	t.Helper()
	quiet := room.keyframeRequests.Load()
	for {
		time.Sleep(time.Second)
		now := room.keyframeRequests.Load()
		if now == quiet || ctx.Err() != nil {
			break
		}
		quiet = now
	}
	var ssrc uint32
	for s := range rec.SSRCs("video") {
		ssrc = s
	}
	testkit.Eventually(t, ctx, "the viewer's keyframe request reaches the alternate's source", func() bool {
		_ = viewer.PeerConnection().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		return room.keyframeRequests.Load() > quiet
	})
}
