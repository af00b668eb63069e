package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/internal/testkit"
)

// TestStreamStatsGapsAndClockOffset: a frame that arrives later than the stream's clock says
// sets the clock offset, one over a second late counts a stall, and a decode-time jump counts
// a timestamp jump.
func TestStreamStatsGapsAndClockOffset(t *testing.T) {
	var s stream
	s.syncReport(s.clock.dts(0), 0)
	time.Sleep(150 * time.Millisecond)
	d := s.clock.dts(3000) // 33 ms of media after 150 ms
	s.syncReport(d, d)
	if off := s.stats.snapshot().ClockOffset; off < 100*time.Millisecond || off > time.Second {
		t.Errorf("clock offset %s, want about 117 ms", off)
	}
	time.Sleep(1200 * time.Millisecond)
	d = s.clock.dts(6000)
	s.syncReport(d, d)
	d = s.clock.dts(6000 + 10*ticksPerSecond) // a 10 s jump: rebased
	s.syncReport(d, d)
	got := s.stats.snapshot()
	if got.Stalls != 1 || got.TimestampJumps != 1 {
		t.Errorf("stalls %d, jumps %d; want 1 and 1", got.Stalls, got.TimestampJumps)
	}
	if got.ClockOffset > 100*time.Millisecond {
		t.Errorf("clock offset %s after the stall re-anchored the clock, want about 0", got.ClockOffset)
	}
}

// TestIngestMetrics: an RTMP publisher's frames, bytes and clock offset are in Status and in
// the ingest collector, labelled by room and protocol.
func TestIngestMetrics(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	e := newEnv(t, nil)
	ffmpeg(t, append(source(false), "-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-t", "30", "-f", "flv", e.rtmp+"/live/metered")...)
	e.WaitLive(t, ctx, "metered")
	var st StreamStatus
	testkit.Eventually(t, ctx, "60 video frames counted", func() bool {
		st, _ = e.status("metered")
		return st.Stats.VideoFrames >= 60 && st.Stats.AudioFrames > 0
	})
	x := st.Stats
	if x.VideoBytes < 60*100 || x.AudioBytes == 0 || x.ClockOffset < 0 || x.ClockOffset > time.Second || x.TimestampJumps != 0 {
		t.Errorf("stats %+v: want bytes for every frame, a clock offset under a second, no jumps", x)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.ingest.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := []string{}
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			found[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = true
			if mf.GetName() == "glint_ingest_streams" && m.GetLabel()[0].GetValue() == "rtmp" && m.GetGauge().GetValue() != 1 {
				t.Errorf("glint_ingest_streams{protocol=rtmp} = %v, want 1", m.GetGauge().GetValue())
			}
		}
	}
	for _, want := range []string{
		"glint_ingest_frames_total{kind=video,protocol=rtmp,room=metered}", "glint_ingest_bytes_total{kind=audio,protocol=rtmp,room=metered}",
		"glint_ingest_gaps_total{kind=stall,protocol=rtmp,room=metered}", "glint_ingest_clock_offset_seconds{protocol=rtmp,room=metered}",
		"glint_ingest_streams{protocol=srt}",
	} {
		if !found[want] {
			t.Errorf("ingest metrics lack %s", want)
		}
	}
}
