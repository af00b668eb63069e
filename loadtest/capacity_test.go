package loadtest

import (
	"strings"
	"testing"
	"time"
)

func TestCapacityStopsAtTheFirstStepOverAThreshold(t *testing.T) {
	cfg := Config{URL: "http://x", Room: "r", Capacity: true, CapacityStep: 10, MaxViewers: 50, Step: time.Second, BitrateKbps: 1, FPS: 1}.withDefaults()
	if want := []int{10, 20, 30, 40, 50}; len(cfg.Viewers) != len(want) || cfg.Viewers[4] != 50 {
		t.Fatalf("capacity steps %v, want %v", cfg.Viewers, want)
	}
	r := &runner{cfg: cfg, report: &Report{}}
	steps := []struct {
		viewers, alive int
		p95, loss      float64
		want           bool
	}{
		{10, 10, 50, 0, true},
		{20, 20, 399, 0.9, true},
		{30, 30, 401, 0, false}, // latency over 400 ms
		{40, 40, 100, 2, false}, // loss over 1% (not reached in a real run: it stops at 30)
		{50, 49, 100, 0, false}, // a viewer dropped
	}
	for _, s := range steps {
		step := &Step{Viewers: s.viewers, WebRTC: &ClientStats{Viewers: s.viewers, Alive: s.alive, LatencyP95Ms: s.p95, LossPercent: s.loss}}
		if got := r.holds(step); got != s.want || step.Held == nil || *step.Held != s.want {
			t.Errorf("%d viewers: holds = %v, want %v", s.viewers, got, s.want)
		}
		r.report.Steps = append(r.report.Steps, *step)
	}
	c := r.capacityResult()
	if c.MaxViewersHeld != 20 || c.FailedAt != 30 || !strings.Contains(c.Reason, "latency p95 401 ms") || c.MaxLatencyP95Ms != 400 {
		t.Errorf("capacity result %+v", c)
	}
}
