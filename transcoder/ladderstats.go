package transcoder

import (
	"sync/atomic"
	"time"
)

// LadderStats are a ladder's counters and its latest load window (LadderConfig.MaxLoad's
// 2 s of media), for metrics. Read with Ladder.Stats at any time.
type LadderStats struct {
	// Load is processing wall time over media time in the latest window: above 1 the ladder
	// runs behind real time (its speed is 1/Load). CPULoad is the CPU time over media time
	// (cores needed). Both are 0 until a first window completes.
	Load, CPULoad float64
	Parallel      bool   // rungs encode in parallel
	CorruptFrames uint64 // source frames the decoder refused (dropped)
	DroppedRungs  int    // rungs dropped for load
	Rungs         []RungStats
}

// RungStats are one rung's counters.
type RungStats struct {
	Name        string
	Passthrough bool
	Active      bool    // false once dropped for load
	Frames      uint64  // frames output
	CPULoad     float64 // the rung's encode CPU time over media time in the latest window
}

// ladderCounters are what Stats reads: atomics written on the Push goroutine, and the latest
// window's loads under the Ladder's stateMu.
type ladderCounters struct {
	frames   []atomic.Uint64 // by rung
	corrupt  atomic.Uint64
	load     float64 // guarded by stateMu, as the rest below
	cpuLoad  float64
	parallel bool
	rungCPU  []float64
}

// noteWindow records a completed load window (on the Push goroutine).
func (l *Ladder) noteWindow(load, cpuLoad float64, span time.Duration) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	l.stats.load, l.stats.cpuLoad, l.stats.parallel = load, cpuLoad, l.parallel
	for i, r := range l.encs {
		if r != nil && span > 0 {
			l.stats.rungCPU[i] = float64(r.cost) / float64(span)
		}
	}
}

// output hands one rung's output to LadderConfig.Output and counts it.
func (l *Ladder) output(rung int, e Encoded) {
	l.stats.frames[rung].Add(1)
	l.cfg.Output(rung, e)
}

// Stats returns the ladder's counters and latest load window.
func (l *Ladder) Stats() LadderStats {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	s := LadderStats{Load: l.stats.load, CPULoad: l.stats.cpuLoad, Parallel: l.stats.parallel,
		CorruptFrames: l.stats.corrupt.Load(), Rungs: make([]RungStats, len(l.cfg.Rungs))}
	for i, r := range l.cfg.Rungs {
		s.Rungs[i] = RungStats{Name: r.Name, Passthrough: l.encs[i] == nil, Active: l.active[i],
			Frames: l.stats.frames[i].Load(), CPULoad: l.stats.rungCPU[i]}
		if !l.active[i] {
			s.DroppedRungs++
		}
	}
	return s
}
