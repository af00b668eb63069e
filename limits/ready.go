package limits

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Readiness answers /readyz: 200 while the node takes new work, 503 from the moment it
// starts draining (shutdown) or while one of its checks says it is overloaded. Liveness
// (/healthz) is not its business: a draining node is alive.
type Readiness struct {
	draining atomic.Bool

	mu     sync.Mutex
	checks []OverloadCheck
}

// OverloadCheck reports whether the node is overloaded, and why.
type OverloadCheck func() (overloaded bool, reason string)

// Drain marks the node as draining: /readyz answers 503 from now on.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Draining reports whether Drain was called.
func (r *Readiness) Draining() bool { return r.draining.Load() }

// AddCheck adds an overload check, asked at every /readyz request.
func (r *Readiness) AddCheck(c OverloadCheck) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, c)
}

// State returns "" when ready, else why not.
func (r *Readiness) State() string {
	if r.Draining() {
		return "draining"
	}
	r.mu.Lock()
	checks := append([]OverloadCheck(nil), r.checks...)
	r.mu.Unlock()
	for _, c := range checks {
		if over, why := c(); over {
			return "overloaded: " + why
		}
	}
	return ""
}

// ServeHTTP answers GET /readyz.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if state := r.State(); state != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, state+"\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// CounterFull is the overload check of a counter's node-wide maximum.
func CounterFull(c *Counter) OverloadCheck {
	return func() (bool, string) {
		if c.Full() {
			return true, fmt.Sprintf("%s at the node's maximum of %d", c.what, c.total)
		}
		return false, ""
	}
}

// LoadCheck is overloaded while the 1-minute load average per CPU (from /proc/loadavg) is
// at or above maxPerCPU; a machine without /proc/loadavg is never overloaded by it.
func LoadCheck(maxPerCPU float64) OverloadCheck {
	return loadCheck(maxPerCPU, readLoadAvg, runtime.NumCPU())
}

func loadCheck(maxPerCPU float64, read func() (float64, error), cpus int) OverloadCheck {
	return func() (bool, string) {
		load, err := read()
		if err != nil {
			return false, ""
		}
		if per := load / float64(max(cpus, 1)); per >= maxPerCPU {
			return true, fmt.Sprintf("load average %.2f per CPU (limit %.2f)", per, maxPerCPU)
		}
		return false, ""
	}
}

func readLoadAvg() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, fmt.Errorf("load average: %w", err)
	}
	first, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(first, 64)
	if err != nil {
		return 0, fmt.Errorf("load average %q: %w", first, err)
	}
	return v, nil
}
