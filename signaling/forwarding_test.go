package signaling

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
)

// waitLive waits until the room has a live publisher.
func (s *testServer) waitLive(t *testing.T, ctx context.Context, room string, live bool) {
	t.Helper()
	eventually(t, ctx, "room live="+map[bool]string{true: "true", false: "false"}[live], func() bool {
		info, ok := s.sfu.Room(room)
		return ok && info.Live == live || !ok && !live
	})
}

// prime sends keyframes until every viewer has video flowing, so that what follows reaches
// them whatever moment their transport came up.
func (p *publisher) prime(t *testing.T, ctx context.Context, recs ...*received) {
	t.Helper()
	eventually(t, ctx, "video flowing to every viewer", func() bool {
		p.sendVideo(t, keyframePayload(0), true)
		p.sendAudio(t, audioPayload(0))
		for _, r := range recs {
			if r.count("video") == 0 || r.count("audio") == 0 {
				return false
			}
		}
		return true
	})
}

// goLive sends one keyframe and one audio packet so the room's tracks exist.
func (p *publisher) goLive(t *testing.T, ctx context.Context, s *testServer, room string) {
	t.Helper()
	eventually(t, ctx, "publisher media", func() bool {
		p.sendVideo(t, keyframePayload(0), true)
		p.sendAudio(t, audioPayload(0))
		info, ok := s.sfu.Room(room)
		return ok && info.Live && len(info.Tracks) == 2
	})
}

func TestViewersReceiveByteIdenticalPayloadsInOrder(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	srv := newTestServer(t, nil)
	pub := startPublisher(t, ctx, srv.url+"/whip/fwd", client0())
	pub.goLive(t, ctx, srv, "fwd")

	const viewers, frames, audioFrames = 4, 300, 150
	recs := make([]*received, viewers)
	for i := range recs {
		_, recs[i] = startViewer(t, ctx, srv.url+"/whep/fwd")
	}
	pub.prime(t, ctx, recs...)
	var sentVideo, sentAudio [][]byte
	sentVideo = append(sentVideo, keyframePayload(1))
	pub.sendVideo(t, sentVideo[0], true)
	for i := 1; i <= frames; i++ {
		v := deltaPayload(i)
		sentVideo = append(sentVideo, v)
		pub.sendVideo(t, v, i%3 == 0)
		if i%2 == 0 {
			a := audioPayload(i)
			sentAudio = append(sentAudio, a)
			pub.sendAudio(t, a)
		}
		time.Sleep(time.Millisecond)
	}
	for i, rec := range recs {
		eventually(t, ctx, "all packets at a viewer", func() bool {
			v, _ := rec.snapshot("video")
			a, _ := rec.snapshot("audio")
			return len(v) > 0 && bytes.Equal(v[len(v)-1], sentVideo[len(sentVideo)-1]) &&
				len(a) > 0 && bytes.Equal(a[len(a)-1], sentAudio[len(sentAudio)-1])
		})
		assertSuffix(t, i, "video", rec, sentVideo)
		assertSuffix(t, i, "audio", rec, sentAudio)
		rec.mu.Lock()
		if len(rec.ssrcs["video"]) != 1 || len(rec.ssrcs["audio"]) != 1 {
			t.Errorf("viewer %d: SSRCs %v, want one per kind", i, rec.ssrcs)
		}
		rec.mu.Unlock()
	}
}

// assertSuffix checks that the viewer received sent exactly, in order, with consecutive
// sequence numbers, starting from sent[0].
func assertSuffix(t *testing.T, viewer int, kind string, rec *received, sent [][]byte) {
	t.Helper()
	got, seqs := rec.snapshot(kind)
	start := -1
	for i := range got {
		if bytes.Equal(got[i], sent[0]) {
			start = i
		}
	}
	if start < 0 {
		t.Fatalf("viewer %d %s: first sent payload never arrived (%d packets)", viewer, kind, len(got))
	}
	got, seqs = got[start:], seqs[start:]
	if len(got) != len(sent) {
		t.Fatalf("viewer %d %s: got %d packets after the start, sent %d", viewer, kind, len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("viewer %d %s: packet %d differs", viewer, kind, i)
		}
		if i > 0 && seqs[i] != seqs[i-1]+1 {
			t.Fatalf("viewer %d %s: sequence %d follows %d", viewer, kind, seqs[i], seqs[i-1])
		}
	}
}

// answerPLIs plays a live encoder: deltas at ~100 packets/s, a keyframe whenever the SFU
// has sent a new PLI upstream. It stops when ctx ends.
func answerPLIs(t *testing.T, ctx context.Context, srv *testServer, pub *publisher, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		plis := srv.sfu.Totals().PLIsUpstream
		for n := 2; ctx.Err() == nil; n++ {
			if now := srv.sfu.Totals().PLIsUpstream; now != plis {
				plis = now
				_ = pub.video.WriteRTP(rtpPacket(&pub.vseq, &pub.vts, keyframePayload(n), true))
			} else {
				_ = pub.video.WriteRTP(rtpPacket(&pub.vseq, &pub.vts, deltaPayload(n), n%3 == 0))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
}

func TestViewerJoiningMidStreamStartsWithAKeyframe(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	// The goLive keyframe is too old for the keyframe cache by the time the viewer joins.
	srv := newTestServer(t, func(so *sfu.Options, _ *Options) { so.KeyframeCacheAge = 100 * time.Millisecond })
	pub := startPublisher(t, ctx, srv.url+"/whip/mid", client0())
	pub.goLive(t, ctx, srv, "mid")
	streamCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	answerPLIs(t, streamCtx, srv, pub, &wg)
	defer func() { stop(); wg.Wait() }()

	time.Sleep(300 * time.Millisecond) // mid-stream
	_, rec := startViewer(t, ctx, srv.url+"/whep/mid")
	eventually(t, ctx, "video at the late viewer", func() bool { return rec.count("video") >= 10 })
	got, _ := rec.snapshot("video")
	if !media.IsKeyframeStart("video/H264", got[0]) {
		t.Fatalf("first packet to a late viewer is not a keyframe start: % x", got[0][:3])
	}
	if srv.sfu.Totals().PLIsUpstream == 0 {
		t.Fatal("no PLI was sent to the publisher for the joining viewer")
	}
}

func TestManyViewersJoiningAtOnceCauseFewPLIs(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	srv := newTestServer(t, nil) // PLI interval 200 ms
	pub := startPublisher(t, ctx, srv.url+"/whip/storm", client0())
	pub.goLive(t, ctx, srv, "storm")
	streamCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	answerPLIs(t, streamCtx, srv, pub, &wg)
	defer func() { stop(); wg.Wait() }()

	const viewers = 20
	before, start := srv.sfu.Totals().PLIsUpstream, time.Now()
	var vwg sync.WaitGroup
	recs := make([]*received, viewers)
	for i := range viewers {
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			_, recs[i] = startViewer(t, ctx, srv.url+"/whep/storm")
		}()
	}
	vwg.Wait()
	for _, rec := range recs {
		eventually(t, ctx, "video at every viewer", func() bool { return rec.count("video") > 0 })
	}
	plis := srv.sfu.Totals().PLIsUpstream - before
	allowed := uint64(time.Since(start)/(200*time.Millisecond)) + 2
	t.Logf("%d viewers joined in %v with %d PLIs upstream", viewers, time.Since(start).Round(time.Millisecond), plis)
	if plis > allowed {
		t.Fatalf("%d PLIs upstream for %d joining viewers, want at most %d (one per interval)", plis, viewers, allowed)
	}
}
