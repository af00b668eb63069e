package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/glint-video/glint/loadtest/llhls"
)

// renditionStats collects the measurements of every viewer of one rendition.
type renditionStats struct {
	name string
	from time.Time // samples that arrived earlier are the warm-up's

	mu        sync.Mutex
	joins     []time.Duration
	parts     []time.Duration // capture of a part's last frame → part downloaded
	trace     []partTrace
	frames    []time.Duration // capture → frame (its part) downloaded
	noCapture int
}

func (s *renditionStats) addJoin(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joins = append(s.joins, d)
}

func (s *renditionStats) addFrame(f llhls.Frame) {
	if f.Arrived.Before(s.from) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !f.HasCapture {
		s.noCapture++
		return
	}
	s.frames = append(s.frames, f.Arrived.Sub(f.Captured))
}

// partTrace is one part measured, for --trace.
type partTrace struct {
	viewer  int
	arrived time.Time
	latency time.Duration
}

func (s *renditionStats) addPart(viewer int, last llhls.Frame) {
	if last.Arrived.Before(s.from) || !last.HasCapture {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts = append(s.parts, last.Arrived.Sub(last.Captured))
	s.trace = append(s.trace, partTrace{viewer, last.Arrived, last.Arrived.Sub(last.Captured)})
}

// writeTrace writes every part measured, one line each: rendition, viewer, arrival (Unix
// ms), latency (ms).
func writeTrace(path string, stats []*renditionStats) error {
	var b strings.Builder
	for _, s := range stats {
		s.mu.Lock()
		for _, p := range s.trace {
			fmt.Fprintf(&b, "%s %d %d %d\n", s.name, p.viewer, p.arrived.UnixMilli(), p.latency.Milliseconds())
		}
		s.mu.Unlock()
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	return nil
}

// partTracker finds the last frame of each part: the frames of one part share their
// Arrived time.
type partTracker struct {
	have bool
	last llhls.Frame
}

// next takes the next frame and returns the last frame of the previous part when f
// starts a new one.
func (p *partTracker) next(f llhls.Frame) (llhls.Frame, bool) {
	prev, had := p.last, p.have
	p.last, p.have = f, true
	return prev, had && !prev.Arrived.Equal(f.Arrived)
}

// pct returns the p-th percentile of ds (sorted in place), or 0.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*p/100)]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

// printTable writes the results as a markdown table on stdout.
func printTable(o options, stats []*renditionStats, genCPU, serverCPU float64) {
	fmt.Println("| rendition | viewers | capture → part available p50 / p95 | capture → frame downloaded p50 / p95 | parts / frames measured | join p50 / p95 |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range stats {
		s.mu.Lock()
		fmt.Printf("| %s | %d | %s / %s | %s / %s | %d / %d | %s / %s |\n", s.name, o.viewers,
			ms(pct(s.parts, 50)), ms(pct(s.parts, 95)), ms(pct(s.frames, 50)), ms(pct(s.frames, 95)),
			len(s.parts), len(s.frames), ms(pct(s.joins, 50)), ms(pct(s.joins, 95)))
		if s.noCapture > 0 {
			fmt.Printf("\n%s: %d frames without a capture time (no SEI, no PROGRAM-DATE-TIME)\n", s.name, s.noCapture)
		}
		s.mu.Unlock()
	}
	fmt.Printf("\nLoad generator (publisher + %d viewers) CPU: %.1f%% of one core", o.viewers*len(stats), genCPU)
	if serverCPU >= 0 {
		fmt.Printf("; server CPU while measuring: %.0f%% of one core", serverCPU)
	}
	fmt.Println(".")
}
