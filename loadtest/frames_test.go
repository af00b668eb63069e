package loadtest

import (
	"bytes"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/glint-video/glint/media"
)

// fakeFrames is a keyframe then deltas, with NAL units big enough for FU-A.
func fakeFrames(n int) []accessUnit {
	nal := func(header byte, size int) []byte { return append([]byte{header}, bytes.Repeat([]byte{0xaa}, size)...) }
	frames := []accessUnit{{keyframe: true, nals: [][]byte{nal(0x67, 20), nal(0x68, 4), nal(0x65, 3000)}}}
	for range n - 1 {
		frames = append(frames, accessUnit{nals: [][]byte{nal(0x41, 2500)}})
	}
	return frames
}

func TestFrameAssembler(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	pkts := packetizeAll(fakeFrames(20), base) // 4 packets per frame: SEI (in a STAP-A with SPS, PPS for the keyframe), 3 FU-A
	move := func(from, to int) []rtpPacket {   // packet from arrives after packet to
		p := slices.Clone(pkts)
		x := p[from]
		p = slices.Delete(p, from, from+1)
		return slices.Insert(p, to, x)
	}
	tests := []struct {
		name           string
		pkts           []rtpPacket
		wantFrames     []int // frame indexes completed, in order
		wantIncomplete uint64
	}{
		{"in order", pkts, seq(0, 20), 0},
		{"reordered inside a frame", move(7, 9), seq(0, 20), 0},
		{"lost", slices.Delete(slices.Clone(pkts), 6, 7), append(seq(0, 1), seq(2, 20)...), 1},
		{"lost SEI packet", slices.Delete(slices.Clone(pkts), 4, 5), append(seq(0, 1), seq(2, 20)...), 1},
		{"retransmitted late", move(6, 14), append(append(seq(0, 1), 2, 1), seq(3, 20)...), 0},
	}
	for _, full := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := &frameAssembler{full: full}
				var got []int
				for _, p := range tt.pkts {
					f, done := a.add(p.seq, p.ts, p.marker, p.payload, len(p.payload)+12)
					if !done {
						continue
					}
					i := int(p.ts / 3000)
					got = append(got, i)
					if f.captured != base.Add(time.Duration(i)*time.Millisecond).UnixNano() || f.keyframe != (i == 0) {
						t.Errorf("full %v: frame %d: captured %d, keyframe %v", full, i, f.captured, f.keyframe)
					}
					if want := time.Duration(i) * time.Second / 30; f.pts != want {
						t.Errorf("full %v: frame %d: pts %s, want %s", full, i, f.pts, want)
					}
				}
				if !slices.Equal(got, tt.wantFrames) || a.incomplete != tt.wantIncomplete || a.corrupt != 0 {
					t.Errorf("full %v: completed %v (incomplete %d, corrupt %d), want %v (incomplete %d)",
						full, got, a.incomplete, a.corrupt, tt.wantFrames, tt.wantIncomplete)
				}
			})
		}
	}
}

func TestFullAssemblerRejectsKeyframeWithoutPPS(t *testing.T) {
	bad := []accessUnit{{keyframe: true, nals: [][]byte{{0x67, 1, 2}, {0x65, 1, 2, 3}}}}
	pkts := packetizeAll(bad, time.Unix(1, 0))
	a := &frameAssembler{full: true}
	for _, p := range pkts {
		if _, done := a.add(p.seq, p.ts, p.marker, p.payload, len(p.payload)); done {
			t.Error("a keyframe without PPS passed the full check")
		}
	}
	if a.corrupt != 1 {
		t.Errorf("corrupt = %d, want 1", a.corrupt)
	}
}

func TestCaptureTimeOfMalformedSTAPA(t *testing.T) {
	for _, payload := range [][]byte{{media.H264NALSTAPA, 0, 0, 6}, {media.H264NALSTAPA, 0, 9, 6}, {media.H264NALSTAPA}} {
		if _, ok := captureTimeOf(payload); ok {
			t.Errorf("capture time found in %x", payload)
		}
	}
	sei := media.AppendCaptureSEI(nil, time.Unix(7, 8))
	stap := append([]byte{media.H264NALSTAPA, 0, byte(len(sei))}, sei...)
	if got, ok := captureTimeOf(stap); !ok || got != time.Unix(7, 8).UnixNano() {
		t.Errorf("capture time of a STAP-A with the SEI first: %d, %v", got, ok)
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestFrameStatsFreezesAndJoin(t *testing.T) {
	const frame = time.Second / 30
	start := int64(time.Hour)
	type arrival struct {
		at  time.Duration // after start
		pts time.Duration
	}
	every := func(n int, from time.Duration, gapAfter int, gap time.Duration) []arrival {
		var out []arrival
		at := from
		for i := range n {
			if i == gapAfter {
				at += gap
			}
			out = append(out, arrival{at, time.Duration(i) * frame})
			at += frame
		}
		return out
	}
	var hlsParts []arrival // 10 frames at once every 333 ms, from the fifth part on 300 ms later
	for i := range 90 {
		at := time.Duration(i/10+1) * 10 * frame
		if i >= 40 {
			at += 300 * time.Millisecond
		}
		hlsParts = append(hlsParts, arrival{at, time.Duration(i) * frame})
	}
	twoStalls := every(90, 0, 20, 300*time.Millisecond)
	for i := 60; i < 90; i++ {
		twoStalls[i].at += 250 * time.Millisecond
	}
	var missing []arrival // frames 30-39 never arrive: 333 ms of picture gone
	for _, a := range every(90, 0, -1, 0) {
		if a.pts < 30*frame || a.pts >= 40*frame {
			missing = append(missing, a)
		}
	}
	tests := []struct {
		name        string
		buffer      time.Duration
		arrivals    []arrival
		wantFreezes uint64
	}{
		{"steady", webrtcPlayoutBuffer, every(90, 0, -1, 0), 0},
		{"late by 150 ms", webrtcPlayoutBuffer, every(90, 0, 40, 150*time.Millisecond), 0},
		{"late by 300 ms", webrtcPlayoutBuffer, every(90, 0, 40, 300*time.Millisecond), 1},
		{"two stalls", webrtcPlayoutBuffer, twoStalls, 2},
		{"frames missing", webrtcPlayoutBuffer, missing, 1},
		{"LL-HLS parts, buffered", hlsPlayoutBuffer, hlsParts, 0},
		{"LL-HLS parts, unbuffered", webrtcPlayoutBuffer, hlsParts, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFrameStats(&markClock{}, tt.buffer)
			s.frame(start, start-int64(50*time.Millisecond), 0, 100) // before the join: ignored
			s.join(42 * time.Millisecond)
			s.join(99 * time.Millisecond) // only the first counts
			for _, a := range tt.arrivals {
				arrived := start + int64(a.at)
				s.frame(arrived, arrived-int64(20*time.Millisecond), a.pts, 1000)
			}
			if got := s.freezes.Load(); got != tt.wantFreezes {
				t.Errorf("freezes = %d, want %d", got, tt.wantFreezes)
			}
			if d, ok := s.joined(); !ok || d != 42*time.Millisecond {
				t.Errorf("join = %s, %v", d, ok)
			}
			if n := s.frames.packets.Load(); n != uint64(len(tt.arrivals)) {
				t.Errorf("counted %d frames, want %d", n, len(tt.arrivals))
			}
			var h histogramCounts
			s.latency.addTo(&h)
			if p50 := h.quantile(0.5); math.Abs(float64(p50-20*time.Millisecond)) > float64(2*time.Millisecond) {
				t.Errorf("latency p50 = %s, want 20ms", p50)
			}
		})
	}
}

func TestClientStats(t *testing.T) {
	const viewers = 4
	a := snapshot{mark: 0, at: time.Unix(100, 0), published: []uint64{100, 50}}
	b := snapshot{mark: int64(30 * time.Second), at: time.Unix(130, 0), published: []uint64{1000, 950}}
	a.webrtc = poolCounts{frames: []uint64{0, 0, 0, 0}, rxBytes: make([]uint64, viewers), rooms: []int{0, 1, 0, 1}, joins: make([]time.Duration, viewers)}
	b.webrtc = poolCounts{
		frames: []uint64{900, 900, 900, 450}, rooms: []int{0, 1, 0, 1}, alive: 4,
		rxBytes: []uint64{3_750_000, 3_750_000, 3_750_000, 3_750_000}, // 1 Mbit/s each over 30 s
		joins:   []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 0},
		freezes: 6, packets: 1000, gaps: 30, late: 10,
	}
	for i := range 100 { // latencies 1..100 ms
		b.webrtc.latency[bucketOf(uint64(time.Duration(i+1)*time.Millisecond))]++
	}
	c := clientStats(viewers, 2, &a, &b, &a.webrtc, &b.webrtc, true)
	check := func(name string, got, want, tolerance float64) {
		t.Helper()
		if math.Abs(got-want) > tolerance {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("latency p50", c.LatencyP50Ms, 50, 5)
	check("latency p95", c.LatencyP95Ms, 95, 9)
	check("latency p99", c.LatencyP99Ms, 99, 9)
	check("latency max", c.LatencyMaxMs, 100, 9)
	check("frames sent per viewer", c.FramesSent, 900, 0)
	check("frames percent", c.FramesPercent, 87.5, 0.01)
	check("freezes per minute", c.FreezesPerMinute, 3, 0.001) // 6 freezes, 4 viewers, half a minute
	check("loss", c.LossPercent, 100*20.0/1020, 0.001)        // 30 skipped, 10 of them came late
	check("bitrate", c.BitrateKbps, 1000, 0.1)
	check("join p50", c.JoinP50Ms, 300, 0) // only viewers 2 and 3 joined in this step; 3 has no frame yet
	if c.Joined != 3 || c.JoinsMeasured != 1 || c.FramesReceivedMin != 450 || c.Alive != 4 {
		t.Errorf("joined %d, measured %d, fewest frames %d, alive %d", c.Joined, c.JoinsMeasured, c.FramesReceivedMin, c.Alive)
	}
	if clientStats(0, 0, &a, &b, &a.hls, &b.hls, false) != nil {
		t.Error("stats for a kind without viewers")
	}
}

// feedFrames runs every packet of frames through the assembler and stats as a light
// viewer does, shifting timestamps and sequence numbers by round so that rounds continue.
func feedFrames(a *frameAssembler, s *frameStats, pkts []rtpPacket, round int) {
	n := uint16(len(pkts))
	for _, p := range pkts {
		ts := p.ts + uint32(round*len(pkts)*3000)
		if f, done := a.add(p.seq+uint16(round)*n, ts, p.marker, p.payload, len(p.payload)); done {
			if f.keyframe {
				s.join(time.Millisecond)
			}
			s.frame(f.captured+int64(time.Millisecond), f.captured, f.pts, f.bytes)
		}
	}
}

func TestLightViewerDoesNotAllocate(t *testing.T) {
	pkts := packetizeAll(fakeFrames(30), time.Unix(1_700_000_000, 0))
	a, s := &frameAssembler{}, newFrameStats(&markClock{}, 0)
	round := 0
	allocs := testing.AllocsPerRun(20, func() {
		feedFrames(a, s, pkts, round)
		round++
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per 30 frames, want 0", allocs)
	}
	if a.incomplete != 0 || s.frames.packets.Load() == 0 {
		t.Errorf("incomplete %d, frames %d", a.incomplete, s.frames.packets.Load())
	}
}

// BenchmarkViewer compares the per-packet cost of the light and full viewers.
func BenchmarkViewer(b *testing.B) {
	pkts := packetizeAll(fakeFrames(30), time.Unix(1_700_000_000, 0))
	for _, mode := range []string{ViewerLight, ViewerFull} {
		b.Run(mode, func(b *testing.B) {
			a, s := &frameAssembler{full: mode == ViewerFull}, newFrameStats(&markClock{}, 0)
			b.ReportAllocs()
			round := 0
			for b.Loop() {
				feedFrames(a, s, pkts, round)
				round++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/packet")
		})
	}
}
