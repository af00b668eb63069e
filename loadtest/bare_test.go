package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/loadtest"
	"github.com/glint-video/glint/loadtest/bare"
	"github.com/glint-video/glint/media"
)

// bareRecorder collects what one bare viewer received (from its receive goroutine; read
// after Close).
type bareRecorder struct {
	packets, gaps   [3]int // by bare.Kind
	lastSeq         [3]uint16
	haveSeq         [3]bool
	stamped         int // video packets carrying a capture-time SEI
	keyframes       int // decrypted frame starts carrying an SPS
	firstIsKeyframe bool
	decrypted       int
	latencies       []time.Duration
}

func (r *bareRecorder) onPacket(p *bare.Packet) {
	k := p.Kind
	if r.haveSeq[k] {
		if d := int16(p.Seq - r.lastSeq[k]); d > 0 {
			r.gaps[k] += int(d) - 1
			r.lastSeq[k] = p.Seq
		}
	} else {
		r.lastSeq[k], r.haveSeq[k] = p.Seq, true
	}
	r.packets[k]++
	if p.Payload == nil || len(p.Payload) < 4 {
		return
	}
	r.decrypted++
	nal, key := p.Payload, false
	if nal[0]&0x1f == 24 { // STAP-A: the SEI first, then SPS and PPS
		for off := 1; off+2 < len(p.Payload); {
			size := int(p.Payload[off])<<8 | int(p.Payload[off+1])
			off += 2
			if size == 0 || off+size > len(p.Payload) {
				break
			}
			if off == 3 {
				nal = p.Payload[off : off+size]
			}
			key = key || p.Payload[off]&0x1f == 7
			off += size
		}
	}
	captured, ok := media.ParseCaptureSEI(nal)
	if !ok {
		return
	}
	if r.stamped == 0 {
		r.firstIsKeyframe = key
	}
	r.stamped++
	if key {
		r.keyframes++
	}
	r.latencies = append(r.latencies, time.Unix(0, p.Arrived).Sub(captured))
}

// roomInfo is the part of /api/rooms/{room} these tests read.
type roomInfo struct {
	Viewers int               `json:"viewers"`
	Tracks  []json.RawMessage `json:"tracks"`
}

// roomStatus reads /api/rooms/{room} (a zero roomInfo while the room does not exist yet).
func roomStatus(t *testing.T, base, room string) roomInfo {
	t.Helper()
	resp, err := http.Get(base + "/api/rooms/" + room)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var info roomInfo
	if resp.StatusCode != http.StatusOK {
		return info
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("GET /api/rooms/%s: %v", room, err)
	}
	return info
}

// roomViewers reads the room's viewer count from /api/rooms/{room}.
func roomViewers(t *testing.T, base, room string) int {
	t.Helper()
	return roomStatus(t, base, room).Viewers
}

// playBare joins a bare viewer, retrying while the room is not live yet.
func playBare(ctx context.Context, t *testing.T, url string, opts bare.Options) *bare.Viewer {
	t.Helper()
	for {
		v, err := bare.Play(ctx, url, opts)
		if err == nil {
			return v
		}
		if ctx.Err() != nil {
			t.Fatalf("bare.Play: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBareViewers plays loadtest's publisher with bare viewers (two polled by a shared
// group, one by its own) for twice the server's ICE timeout (3 s): every viewer stays
// connected (consent answered), joins on a keyframe, gets every packet and a capture
// stamp on every frame; DELETE frees each session.
func TestBareViewers(t *testing.T) {
	base := startGlint(t)
	ctx := testkit.Context(t, 60*time.Second)
	stop, err := loadtest.StartLoopPublisher(ctx, base, "bare")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// A viewer that joins between the publisher's video and audio tracks gets video only:
	// start once the room has both.
	testkit.Eventually(t, ctx, "the room live with video and audio", func() bool { return len(roomStatus(t, base, "bare").Tracks) >= 2 })
	id, err := bare.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	group := bare.NewGroup(0)
	defer group.Close()
	const viewers = 3
	recs := make([]*bareRecorder, viewers)
	vs := make([]*bare.Viewer, viewers)
	for i := range viewers {
		recs[i] = &bareRecorder{}
		opts := bare.Options{Identity: id, LoopbackOnly: true, OnPacket: recs[i].onPacket, Group: group}
		if i == viewers-1 {
			opts.Group = nil
		}
		vs[i] = playBare(ctx, t, base+"/whep/bare", opts)
	}
	if n := roomViewers(t, base, "bare"); n != viewers {
		t.Errorf("server lists %d viewers, want %d", n, viewers)
	}
	time.Sleep(6 * time.Second) // twice the ICE timeout
	for i, v := range vs {
		select {
		case <-v.Done():
			t.Errorf("viewer %d ended: %v", i, v.Err())
		default:
		}
		if err := v.Close(ctx); err != nil {
			t.Errorf("viewer %d: Close: %v", i, err)
		}
		if n := roomViewers(t, base, "bare"); n != viewers-1-i {
			t.Errorf("after closing viewer %d the server lists %d viewers, want %d", i, n, viewers-1-i)
		}
		checkBareRecorder(t, fmt.Sprintf("viewer %d", i), recs[i], v.DecryptFailures())
	}
}

func checkBareRecorder(t *testing.T, name string, r *bareRecorder, decryptFailures uint64) {
	t.Helper()
	slices.Sort(r.latencies)
	if len(r.latencies) > 0 {
		t.Logf("%s: %d video / %d audio packets, %d frames stamped, %d keyframes, %d decrypted, latency p50 %s max %s",
			name, r.packets[bare.Video], r.packets[bare.Audio], r.stamped, r.keyframes, r.decrypted,
			r.latencies[len(r.latencies)/2], r.latencies[len(r.latencies)-1])
	}
	// 6 s of 30 fps video and 50 packets/s of audio.
	if r.packets[bare.Video] < 500 || r.packets[bare.Audio] < 200 {
		t.Errorf("%s: %d video, %d audio packets", name, r.packets[bare.Video], r.packets[bare.Audio])
	}
	if r.gaps != [3]int{} || decryptFailures != 0 {
		t.Errorf("%s: sequence gaps %v, %d decryption failures; want none on loopback", name, r.gaps, decryptFailures)
	}
	if r.stamped < 150 || !r.firstIsKeyframe || r.keyframes < 2 {
		t.Errorf("%s: %d stamped frames, %d keyframes, first a keyframe %v", name, r.stamped, r.keyframes, r.firstIsKeyframe)
	}
	// Only frame starts are decrypted: about one packet per frame.
	if r.decrypted > r.stamped+r.stamped/10+2 {
		t.Errorf("%s: decrypted %d packets for %d frames", name, r.decrypted, r.stamped)
	}
	for _, l := range r.latencies {
		if l <= 0 || l > 3*time.Second {
			t.Errorf("%s: latency %s, want within (0, 3s)", name, l)
			break
		}
	}
}

// TestRunBareViewers runs a load test with bare viewers sending receiver reports: the
// report is as complete as the light viewers' (frames with capture times, joins, latency,
// bitrate), without loss, and its parameters record the report interval.
func TestRunBareViewers(t *testing.T) {
	url := startGlint(t)
	report, _ := runLoadtest(t, loadtest.Config{
		URL: url, Room: "bare", Viewers: []int{1, 3}, Step: 2 * time.Second, Warmup: time.Second,
		BitrateKbps: 2500, FPS: 30, ViewerMode: loadtest.ViewerBare, ViewerReports: 500 * time.Millisecond,
	})
	if report.Params.ViewerReportMs != 500 {
		t.Errorf("params: viewer reports %v ms, want 500", report.Params.ViewerReportMs)
	}
	var table bytes.Buffer
	if err := report.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", table.String())
	for i, want := range []int{1, 3} {
		s := report.Steps[i]
		checkClientStats(t, fmt.Sprintf("bare step %d", i), s.WebRTC, want)
		if c := s.WebRTC; c.LossPercent != 0 || c.IncompleteFrames != 0 || c.FramesPercent < 90 {
			t.Errorf("bare step %d: loss %v%%, %d incomplete frames, %.1f%% of frames", i, c.LossPercent, c.IncompleteFrames, c.FramesPercent)
		}
		if s.ServerViewers == nil || *s.ServerViewers != want {
			t.Errorf("bare step %d: server viewers %v, want %d", i, s.ServerViewers, want)
		}
	}
}
