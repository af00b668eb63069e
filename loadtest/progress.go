package loadtest

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress tells the operator where the run is: on a terminal a one-line bar redrawn in
// place, elsewhere (a log, CI) plain lines. Step results are always whole lines.
type progress struct {
	w     io.Writer
	bar   bool
	steps int // steps of the run, the baseline included

	mu    sync.Mutex
	done  int     // steps finished
	frac  float64 // of the current step, while measuring
	now   string
	drawn bool
}

func newProgress(w io.Writer, bar bool, steps int) *progress {
	return &progress{w: w, bar: bar, steps: max(steps, 1)}
}

// status shows what the run is doing now (a bar redraw, or a line).
func (p *progress) status(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = fmt.Sprintf(format, args...)
	if p.bar {
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "  %s\n", p.now)
}

// line prints a finished step's summary and counts the step done.
func (p *progress) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.frac = 0
	if p.bar {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, s)
	if p.bar {
		p.draw()
	}
}

// measuring fills the bar over d (a measurement); the returned func stops it. Without a
// bar it prints one line.
func (p *progress) measuring(label string, d time.Duration) (stop func()) {
	if !p.bar {
		p.status("%s: measuring for %s", label, d)
		return func() {}
	}
	start := time.Now()
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			p.mu.Lock()
			p.frac = min(1, float64(time.Since(start))/float64(d))
			p.now = fmt.Sprintf("%s: measuring %.0f/%.0f s", label, time.Since(start).Seconds(), d.Seconds())
			p.draw()
			p.mu.Unlock()
		}
	}()
	return func() { close(quit); <-finished }
}

// finish clears the bar.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// draw redraws the bar line; p.mu is held.
func (p *progress) draw() {
	const width = 30
	filled := int(width * (float64(p.done) + p.frac) / float64(p.steps))
	filled = min(max(filled, 0), width)
	status := p.now
	if len(status) > 70 {
		status = status[:70]
	}
	fmt.Fprintf(p.w, "\r\033[K[%s%s] step %d/%d %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		min(p.done+1, p.steps), p.steps, status)
	p.drawn = true
}
