package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/media"
)

// edgeRecoveryTarget is the target for viewers of a dead edge to play again; the
// assertions allow twice as much for a loaded machine, the logs give the measurement.
const edgeRecoveryTarget = 3 * time.Second

// edgeCluster starts three glint serve nodes (A, B, C) on one Redis with a cluster secret,
// and `glint demo` (ffmpeg's test pattern, 320x180, a keyframe a second, published through
// package client) publishing room on A.
func edgeCluster(t *testing.T, srv *redistest.Server, room string) (a, b, c *server) {
	t.Helper()
	requireFFmpeg(t)
	node := func(id string) *server {
		return startServer(t, "--redis", srv.URL(), "--node-id", id, "--cluster-secret", "e2e-cluster-secret-0123",
			"--public-url", "http://127.0.0.1:{http}")
	}
	a, b, c = node("node-a"), node("node-b"), node("node-c")
	testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo",
		"--url", a.url("/whip/"+room), "--size", "320x180", "--loopback")
	a.waitRoom(t, room, 30*time.Second, "live with video", func(r roomInfo) bool {
		_, ok := r.track("video")
		return r.Live && ok
	})
	return a, b, c
}

// videoPacket is one received video RTP packet, kept for the decode check.
type videoPacket struct {
	at      time.Time
	seq     uint16
	marker  bool
	payload []byte
}

// maxKeptPackets bounds the video packets an edgeViewer keeps per session (its first ones).
const maxKeptPackets = 4000

// edgeViewer is a client.FailoverViewer (the watch page's reconnect rules) that keeps each
// session's first video packets and counts its frames.
type edgeViewer struct {
	*client.FailoverViewer
	mu     sync.Mutex
	video  map[int][]videoPacket // by session index
	frames map[int]int           // video frames (marker bits) by session index
}

// startEdgeViewer starts an edgeViewer of whep that knows nodes (?nodes= of the watch page)
// besides those GET /api/nodes lists.
func startEdgeViewer(t *testing.T, ctx context.Context, whep string, nodes ...string) *edgeViewer {
	t.Helper()
	return playEdgeViewer(t, ctx, whep, client.FailoverOptions{Options: client.Options{LoopbackOnly: true}, Nodes: nodes})
}

func (v *edgeViewer) onRTP(s client.FailoverSession, track *webrtc.TrackRemote, pkt *rtp.Packet) {
	if track.Kind() != webrtc.RTPCodecTypeVideo || len(pkt.Payload) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if pkt.Marker {
		v.frames[s.Index]++
	}
	if len(v.video[s.Index]) < maxKeptPackets {
		v.video[s.Index] = append(v.video[s.Index], videoPacket{at: time.Now(), seq: pkt.SequenceNumber,
			marker: pkt.Marker, payload: bytes.Clone(pkt.Payload)})
	}
}

// framesOf is how many video frames session index brought.
func (v *edgeViewer) framesOf(index int) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.frames[index]
}

func (v *edgeViewer) packetsOf(index int) []videoPacket {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.video[index])
}

// wholeFrame is one video frame of a session: its packets' payloads in order, whether none
// is missing, and when its last packet arrived (a retransmission may come last).
type wholeFrame struct {
	payloads [][]byte
	whole    bool
	at       time.Time
}

// splitFrames cuts a session's video packets, in sequence order, into frames (at marker bits).
func splitFrames(pkts []videoPacket) []wholeFrame {
	if len(pkts) == 0 {
		return nil
	}
	base := pkts[0].seq // the first to arrive; retransmissions may come later, out of order
	ext := func(p videoPacket) int { return int(int16(p.seq - base)) }
	slices.SortStableFunc(pkts, func(x, y videoPacket) int { return ext(x) - ext(y) })
	pkts = slices.CompactFunc(pkts, func(x, y videoPacket) bool { return x.seq == y.seq })
	var frames []wholeFrame
	cur := wholeFrame{whole: true}
	for i, p := range pkts {
		if i > 0 && ext(p) != ext(pkts[i-1])+1 {
			cur.whole = false // a packet of this frame is missing (the one before ended at its marker)
		}
		cur.payloads = append(cur.payloads, p.payload)
		if p.at.After(cur.at) {
			cur.at = p.at
		}
		if p.marker {
			frames = append(frames, cur)
			cur = wholeFrame{whole: true}
		}
	}
	return frames
}

// decodableRun finds, in a session's video, the first keyframe followed by at least min
// whole frames, and returns that run as an H.264 Annex B stream: how many frames it has, how
// many came before it, and when its keyframe was complete.
func decodableRun(pkts []videoPacket, minFrames int) (stream []byte, frames, skipped int, keyAt time.Time, err error) {
	all := splitFrames(pkts)
	var dep media.H264Depacketizer
	for start := range all {
		stream, frames = stream[:0], 0
		for _, f := range all[start:] {
			if !f.whole {
				break
			}
			nals, err := depacketize(&dep, f.payloads)
			if err != nil {
				break // a fragment cut off (the SFU skipped to a keyframe, renumbering): not a frame
			}
			if frames == 0 && !slices.ContainsFunc(nals, func(n []byte) bool { return len(n) > 0 && n[0]&0x1f == 5 }) {
				break // a run starts at a keyframe
			}
			for _, nal := range nals {
				stream = append(append(stream, 0, 0, 0, 1), nal...)
			}
			frames++
		}
		if frames >= minFrames {
			return stream, frames, start, all[start].at, nil
		}
	}
	return nil, 0, 0, time.Time{}, fmt.Errorf("no keyframe followed by %d whole frames in %d frames", minFrames, len(all))
}

// depacketize returns the NAL units of one frame's payloads.
func depacketize(dep *media.H264Depacketizer, payloads [][]byte) ([][]byte, error) {
	var nals [][]byte
	dep.Reset()
	for _, payload := range payloads {
		if err := dep.Push(payload, func(nal []byte) { nals = append(nals, bytes.Clone(nal)) }); err != nil {
			return nil, fmt.Errorf("depacketize: %w", err)
		}
	}
	if dep.Pending() {
		return nil, fmt.Errorf("depacketize: the frame ends inside a fragmented NAL unit")
	}
	return nals, nil
}

// checkDecodable has ffprobe decode the first run of at least 25 whole frames from a
// keyframe of session index of v, and returns when that keyframe was complete.
func checkDecodable(t *testing.T, ctx context.Context, v *edgeViewer, index int, name string) time.Time {
	t.Helper()
	stream, frames, skipped, keyAt, err := decodableRun(v.packetsOf(index), 25)
	if err != nil {
		t.Fatalf("%s, session %d: %v", name, index, err)
	}
	if skipped > 0 {
		t.Logf("%s, session %d: %d frames before the first decodable keyframe (a packet lost)", name, index, skipped)
	}
	file := filepath.Join(t.TempDir(), strings.ReplaceAll(name, " ", "-")+".h264")
	if err := os.WriteFile(file, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := testkit.ProbeStream(ctx, file, time.Minute)
	if err != nil {
		t.Fatalf("%s, session %d: %v", name, index, err)
	}
	if s.Codec != "h264" || s.Width != 320 || s.Height != 180 || s.Frames < frames-1 {
		t.Fatalf("%s, session %d: ffprobe decoded %v, %d frames; want h264 320x180, %d frames", name, index, s, s.Frames, frames)
	}
	return keyAt
}

// TestClusterEdgeKill: a room published on A is watched on edge B by six Go viewers with the
// watch page's reconnect rules (client.PlayWithFailover; every other one is told of node C
// first, the rest know the nodes from GET /api/nodes, A first) and one Chromium watch page
// (?nodes= C, A); B is killed (SIGKILL). Every viewer and the page play again from another
// node (C through a new relay, or the origin A), and what the Go viewers receive there
// decodes from its first frame.
func TestClusterEdgeKill(t *testing.T) {
	requireBrowser(t)
	const room, viewers = "edge", 6
	srv := redistest.Start(t, "")
	a, b, c := edgeCluster(t, srv, room)
	name := func(url string) string {
		return map[string]string{a.base: "A", b.base: "B", c.base: "C"}[strings.TrimRight(url, "/")]
	}
	ctx := testkit.Context(t, 3*time.Minute)
	pion := make([]*edgeViewer, viewers)
	for i := range pion {
		var nodes []string
		if i%2 == 0 {
			nodes = []string{c.base}
		}
		pion[i] = startEdgeViewer(t, ctx, b.url("/whep/"+room), nodes...)
	}
	page := startBrowser(t, "watch", b.url("/watch/"+room), 150, "--query=nodes="+c.base+","+a.base)
	testkit.Eventually(t, ctx, "every Go viewer playing from node B", func() bool {
		for _, v := range pion {
			if s := v.Session(); s.Node != b.base || v.framesOf(s.Index) < 30 || len(v.Nodes()) != 3 {
				return false
			}
		}
		return true
	})
	for i, v := range pion {
		checkDecodable(t, ctx, v, 1, fmt.Sprintf("viewer %d on node B", i))
	}
	waitPageSample(page, 40*time.Second, "video from node B", func(s failoverState) bool {
		return strings.HasPrefix(s.Node, b.base) && s.State == "live" && s.Video.FramesDecoded > 0
	})

	b.killed = true
	b.proc.Kill()
	killed := time.Now()
	s := waitPageSample(page, 30*time.Second, "video from another node after node B was killed", func(s failoverState) bool {
		return !strings.HasPrefix(s.Node, b.base) && s.State == "live" && s.Video.FramesDecoded > 0
	})
	pageTook := time.Since(killed)
	waitPageSample(page, 30*time.Second, "25 frames decoded on the new node", func(s failoverState) bool {
		return !strings.HasPrefix(s.Node, b.base) && s.Video.FramesDecoded >= 25
	})
	t.Logf("edge kill: Chromium watch page: playing from %s %.1f s after the kill (sampled once a second; moves %d)",
		name(s.Node), pageTook.Seconds(), s.Moves)

	testkit.Eventually(t, ctx, "every Go viewer playing from another node", func() bool {
		for _, v := range pion {
			if s := v.Session(); s.Node == b.base || v.framesOf(s.Index) < 75 { // a second keyframe: room for one lost packet
				return false
			}
		}
		return true
	})
	var took []time.Duration
	for i, v := range pion {
		s := v.Session()
		first := checkDecodable(t, ctx, v, s.Index, fmt.Sprintf("viewer %d after the kill", i))
		recs := v.Recoveries()
		if len(recs) == 0 {
			t.Fatalf("viewer %d plays from %s but recorded no recovery", i, s.Node)
		}
		r := recs[len(recs)-1]
		if want := map[bool]string{true: "C", false: "A"}[i%2 == 0]; name(s.Node) != want {
			t.Errorf("viewer %d moved to %s, want %s (the next node it knows)", i, name(s.Node), want)
		}
		took = append(took, first.Sub(killed))
		t.Logf("edge kill: viewer %d: decodable video from %s %d ms after the kill (lost: %s; RTP gap %d ms, %d offers)",
			i, name(s.Node), first.Sub(killed).Milliseconds(), r.Reason, r.Gap().Milliseconds(), r.Attempts)
	}
	slices.Sort(took)
	p50, worst := stats.Quantile(took, 0.5), took[len(took)-1]
	t.Logf("edge kill: %d Go viewers: first decodable frame after the kill p50 %d ms, max %d ms; Chromium page %.1f s (target %v)",
		viewers, p50.Milliseconds(), worst.Milliseconds(), pageTook.Seconds(), edgeRecoveryTarget)
	if worst > 2*edgeRecoveryTarget || pageTook > 2*edgeRecoveryTarget {
		t.Errorf("recovery took %v (Go viewers' max) and %v (page), want within %v (%v with margins)",
			worst, pageTook, edgeRecoveryTarget, 2*edgeRecoveryTarget)
	}
	page.finish()
}

// TestClusterRedisRestartKeepsViewers: Redis is killed mid-stream and restarted empty while
// viewers watch on the origin A and on edge B (through a relay). No viewer loses its session
// or stops receiving frames, the room stays live, B's relay is never reconnected; while Redis
// is down a viewer joining on C (which would need a new relay) gets 503 cluster directory
// unavailable, and once Redis is back new cross-node viewers are routed again.
func TestClusterRedisRestartKeepsViewers(t *testing.T) {
	const room, outage = "restart", 4 * time.Second
	srv := redistest.Start(t, "")
	a, b, c := edgeCluster(t, srv, room)
	ctx := testkit.Context(t, 2*time.Minute)
	var viewers []*edgeViewer
	for _, s := range []*server{a, a, b, b} {
		viewers = append(viewers, startEdgeViewer(t, ctx, s.url("/whep/"+room)))
	}
	testkit.Eventually(t, ctx, "video on A and B", func() bool {
		return !slices.ContainsFunc(viewers, func(v *edgeViewer) bool { return v.framesOf(1) < 30 })
	})

	srv.Kill()
	before := make([]int, len(viewers))
	for i, v := range viewers {
		before[i] = v.framesOf(1)
	}
	status, body := postWHEPOffer(t, c.url("/whep/"+room))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "cluster directory unavailable") {
		t.Fatalf("a new viewer on node C while Redis is down: %d %s, want 503 cluster directory unavailable", status, body)
	}
	time.Sleep(outage)
	for i, v := range viewers {
		if got := v.framesOf(1) - before[i]; got < 25*int(outage/time.Second)/2 {
			t.Errorf("viewer %d received %d frames in the %v Redis was down", i, got, outage)
		}
	}

	srv.Restart()
	back := time.Now()
	routedAt, routed := playAgainOn(t, ctx, c.url("/whep/"+room))
	routedAfter := routedAt.Sub(back)
	for _, v := range viewers {
		before := v.framesOf(1)
		testkit.Eventually(t, ctx, "frames after the restart", func() bool { return v.framesOf(1) > before+25 })
	}
	dropped := 0
	for i, v := range viewers {
		if s := v.Session(); s.Index != 1 || len(v.Recoveries()) != 0 {
			dropped++
			t.Errorf("viewer %d lost its session: now session %d on %s, recoveries %+v", i, s.Index, s.Node, v.Recoveries())
		}
	}
	a.waitRoom(t, room, 10*time.Second, "still live on A", func(r roomInfo) bool { return r.Live })
	if relays, _ := fetch(t, b.url("/api/relays")); !bytes.Contains(relays, []byte(`"connects":1`)) {
		t.Errorf("node B's relay after the restart (want its first upstream session still): %s", relays)
	}
	t.Logf("redis restart: viewers on A and B (relay): %d of %d dropped; Redis down %v, each viewer kept receiving; "+
		"new cross-node WHEP on C: 503 while down, routed again %.1f s after Redis came back (%d frames)",
		dropped, len(viewers), outage, routedAfter.Seconds(), routed)
}

// postWHEPOffer POSTs a pion recvonly offer to a WHEP URL and returns the status and body;
// a session it created is ended.
func postWHEPOffer(t *testing.T, whep string) (int, string) {
	t.Helper()
	offer := testkit.PionOffer(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	resp, err := httpClient.Post(whep, "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatalf("POST %s: %v", whep, err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusCreated && loc != "" {
		req, _ := http.NewRequest(http.MethodDelete, whep[:strings.Index(whep, "/whep/")]+loc, nil)
		if r, err := httpClient.Do(req); err == nil {
			_ = r.Body.Close()
		}
	}
	return resp.StatusCode, string(body)
}

// playAgainOn tries a WHEP session on whep every 100 ms until one is answered, checks that
// it plays video, and returns when it was answered and the frames it got.
func playAgainOn(t *testing.T, ctx context.Context, whep string) (time.Time, int) {
	t.Helper()
	for ctx.Err() == nil {
		v := &edgeViewer{video: map[int][]videoPacket{}, frames: map[int]int{}}
		sess, err := client.Play(ctx, whep, client.Options{LoopbackOnly: true, OnTrack: func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				v.onRTP(client.FailoverSession{Index: 1}, tr, pkt)
			}
		}})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		answered := time.Now()
		testkit.Eventually(t, ctx, "video of the new cross-node viewer", func() bool { return v.framesOf(1) >= 10 })
		_ = sess.Close(ctx)
		return answered, v.framesOf(1)
	}
	t.Fatalf("no WHEP session on %s: %v", whep, ctx.Err())
	return time.Time{}, 0
}
