package ingest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/glint-video/glint/internal/testkit"
)

// lipSyncSource is an ffmpeg input with a known audio/video alignment: a black 320x240
// picture at 30 fps that is white for the first frame of every second, and a 1 kHz beep
// during the first 100 ms of every second, both starting at media time 0; H.264 as in
// source (B-frames or not) and AAC.
func lipSyncSource(bframes bool) []string {
	args := []string{"-hide_banner", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "color=c=black:size=320x240:rate=30,drawbox=w=iw:h=ih:c=white:t=fill:enable='eq(mod(n\\,30)\\,0)'",
		"-re", "-f", "lavfi", "-i", "aevalsrc='0.5*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.1)':s=48000",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "300k", "-c:a", "aac", "-b:a", "64k"}
	if bframes {
		return append(args, "-preset", "veryfast", "-bf", "2")
	}
	return append(args, "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline", "-bf", "0")
}

// syncPair is one flash and the beep of the same second, on the sender's wall clock as the
// viewer maps them through the sender reports.
type syncPair struct {
	video, audio         float64 // through the median report of each track, seconds
	videoSR, audioSR     float64 // through the report nearest in RTP time
	videoLast, audioLast float64 // through the last report of each track
}

func (p syncPair) offset() float64     { return p.audio - p.video }
func (p syncPair) offsetSR() float64   { return p.audioSR - p.videoSR }
func (p syncPair) offsetLast() float64 { return p.audioLast - p.videoLast }

// TestLipSync: ffmpeg pushes a source whose flashes and beeps start together, over RTMP and
// SRT, with and without B-frames (the re-encode path); a WHEP viewer decodes what it gets,
// finds the flash pictures (H.264 luma) and beep onsets (Opus energy), maps their RTP times
// to the sender's wall clock through each track's RTCP sender reports, and every flash after
// the first seconds has its beep within 40 ms, through single reports (the one nearest in
// RTP time, and the last one) as well as through the median of all.
func TestLipSync(t *testing.T) {
	const tolerance = 0.040
	for _, tc := range pushRoutes("sync") {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bframes && !reencoderReady() {
				t.Fatal("transcoder.NewReencoder does not open: the re-encode path cannot be tested")
			}
			if ready, why := aacConverterReady(); !ready {
				t.Fatalf("no AAC → Opus converter: %s", why)
			}
			ctx := testkit.Context(t, 120*time.Second)
			e := newEnv(t, nil)
			ff := ffmpeg(t, append(lipSyncSource(tc.bframes), "-t", "18", "-f", tc.format, tc.url(e))...)
			e.WaitLive(t, ctx, "sync")
			v := startSyncViewer(t, ctx, e.URL+"/whep/sync")
			if err := ff.Wait(time.Minute); err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, ff.Stderr())
			}
			time.Sleep(time.Second) // the last packets and reports
			if err := v.sess.Close(ctx); err != nil {
				t.Logf("viewer close: %v", err)
			}
			st := e.Logs.String()
			if tc.bframes && !strings.Contains(st, "reencoding: b-frames") {
				t.Fatal("the b-frame source was not re-encoded")
			}
			pairs, err := lipSyncPairs(t, v)
			if err != nil {
				t.Fatal(err)
			}
			if len(pairs) < 5 {
				t.Fatalf("%d flash/beep pairs after the first seconds, want at least 5", len(pairs))
			}
			var sum, worst, worstSR, worstLast float64
			for i, p := range pairs {
				sum += p.offset()
				worst = max(worst, math.Abs(p.offset()))
				worstSR = max(worstSR, math.Abs(p.offsetSR()))
				worstLast = max(worstLast, math.Abs(p.offsetLast()))
				for _, o := range []struct {
					through string
					offset  float64
				}{{"the median report", p.offset()}, {"the nearest report", p.offsetSR()}, {"the last report", p.offsetLast()}} {
					if math.Abs(o.offset) > tolerance {
						t.Errorf("pair %d: beep %+.1f ms from its flash through %s, want within ±%.0f ms", i, o.offset*1000, o.through, tolerance*1000)
					}
				}
			}
			t.Logf("%s: audio − video over %d pairs: mean %+.1f ms, max |offset| %.1f ms (each through its nearest report: max %.1f ms; through the last: max %.1f ms)",
				tc.name, len(pairs), sum/float64(len(pairs))*1000, worst*1000, worstSR*1000, worstLast*1000)
		})
	}
}

// lipSyncPairs finds the flashes and beeps a viewer got, maps them to the sender's wall
// clock through the sender reports and pairs each flash with the nearest beep, leaving out
// the first 3 seconds.
func lipSyncPairs(t *testing.T, v *syncViewer) ([]syncPair, error) {
	t.Helper()
	video, vsrs := v.snapshot("video")
	audio, asrs := v.snapshot("audio")
	if len(video) == 0 || len(audio) == 0 {
		return nil, fmt.Errorf("viewer got %d video and %d audio packets", len(video), len(audio))
	}
	flashes, pictures, err := h264Flashes(video)
	if err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	onsets, err := opusOnsets(audio, 0.15, 500*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	vc, err := newTrackClock(90000, inSeqOrder(video)[0].Timestamp, vsrs)
	if err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	ac, err := newTrackClock(48000, inSeqOrder(audio)[0].Timestamp, asrs)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	t.Logf("%d pictures, %d flashes, %d beeps; %d video and %d audio sender reports, offsets spread %.1f / %.1f ms",
		pictures, len(flashes), len(onsets), len(vsrs), len(asrs), vc.spread()*1000, ac.spread()*1000)
	t.Logf("report offsets from the median (ms): video%s; audio%s", vc.deviations(), ac.deviations())
	start := vc.wall(firstTimestamp(video)) + 3
	var pairs []syncPair
	for _, f := range flashes {
		fw := vc.wall(f)
		if fw < start {
			continue
		}
		best := -1
		for i, o := range onsets {
			if best < 0 || math.Abs(ac.wall(o)-fw) < math.Abs(ac.wall(onsets[best])-fw) {
				best = i
			}
		}
		if best < 0 || math.Abs(ac.wall(onsets[best])-fw) > 0.5 {
			t.Logf("flash at %.3f s has no beep within 500 ms", fw-start+3)
			continue
		}
		o := onsets[best]
		pairs = append(pairs, syncPair{video: fw, audio: ac.wall(o), videoSR: vc.nearest(f), audioSR: ac.nearest(o),
			videoLast: vc.latest(f), audioLast: ac.latest(o)})
	}
	return pairs, nil
}

// firstTimestamp is the timestamp of the first packet in sequence order.
func firstTimestamp(pkts []*rtp.Packet) uint32 { return inSeqOrder(pkts)[0].Timestamp }
