package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/stats"
)

// edgeStats is one run of pollers through an edge (or straight at the counter).
type edgeStats struct {
	originParts  int // distinct parts the origin answered 200 during the run
	playlistReqs int // blocking playlist requests that reached the origin
	partReqs     int // part requests that reached the origin
	maxPerURL    int
	delays       []time.Duration // per delivery: got − the origin's first answer for the URL, sorted
	waitDelays   []time.Duration // the same for requests sent before that answer (collapsed ones)
	window       int             // parts every poller got (checkEveryPart)
	requests     int             // requests the pollers made
	errs         int
	hintMiss     int
}

func (s edgeStats) playlistPerPart() float64 { return ratio(s.playlistReqs, s.originParts) }
func (s edgeStats) partPerPart() float64     { return ratio(s.partReqs, s.originParts) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// pct is the q-th percentile of sorted delays, rounded to 0.1 ms.
func pct(delays []time.Duration, q int) time.Duration {
	return stats.Quantile(delays, float64(q)/100).Round(100 * time.Microsecond)
}

// measure sums up what reached the origin and the delay the path added: for every blocking
// reload and part a poller got, the time from the origin's first answer for that URL to the
// poller having the body. Deliveries of requests sent before that answer (the ones an edge
// collapses: it holds them while the origin blocks) are also kept apart.
func measure(pollers []*hlsPoller, origin map[string]originURL) edgeStats {
	var s edgeStats
	for key, o := range origin {
		switch {
		case strings.Contains(key, "/part"):
			s.partReqs += o.requests
			if o.ok > 0 {
				s.originParts++
			}
		case strings.Contains(key, "_HLS_msn="):
			s.playlistReqs += o.requests
		default:
			continue
		}
		s.maxPerURL = max(s.maxPerURL, o.requests)
	}
	for _, p := range pollers {
		s.requests += p.requests
		s.errs += p.errs
		s.hintMiss += p.hintMiss
		for _, w := range p.waits {
			o, ok := origin[w.key]
			if !ok {
				continue // cached by the edge before this run
			}
			d := max(0, w.got.Sub(o.first))
			s.delays = append(s.delays, d)
			if w.sent.Before(o.first) {
				s.waitDelays = append(s.waitDelays, d)
			}
		}
	}
	slices.Sort(s.delays)
	slices.Sort(s.waitDelays)
	return s
}

// TestEdgeBench is the measurement behind scripts/bench/50-edge.sh, run only with
// GLINT_EDGE_BENCH=1: for each number of pollers (GLINT_EDGE_BENCH_POLLERS, default
// 20,100,300) it polls straight at the origin (through the counter only), then through
// Varnish, nginx, and nginx without proxy_cache_lock (the only way to avoid its 500 ms
// polling), each for GLINT_EDGE_BENCH_SECONDS (default 20), and prints
// one markdown table row per run on a line starting with "EDGEBENCH ".
func TestEdgeBench(t *testing.T) {
	if os.Getenv("GLINT_EDGE_BENCH") == "" {
		t.Skip("a benchmark: set GLINT_EDGE_BENCH=1 (scripts/bench/50-edge.sh does)")
	}
	var counts []int
	for _, f := range strings.Split(envOr("GLINT_EDGE_BENCH_POLLERS", "20,100,300"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("GLINT_EDGE_BENCH_POLLERS: bad count %q", f)
		}
		counts = append(counts, n)
	}
	secs, err := strconv.Atoi(envOr("GLINT_EDGE_BENCH_SECONDS", "20"))
	if err != nil || secs <= 0 {
		t.Fatalf("GLINT_EDGE_BENCH_SECONDS: %v", err)
	}
	requireFFmpeg(t)
	varnishd, nginx := requireEdgeTools(t)
	origin, dir := startHLSOrigin(t)
	edges := []struct {
		name    string
		counter *originCounter
		base    string
	}{{name: "direct (no edge)"}, {name: "Varnish"}, {name: "nginx"}, {name: "nginx, proxy_cache_lock off"}}
	for i := range edges {
		edges[i].counter = startOriginCounter(t, origin)
		switch i {
		case 0:
			edges[i].base = "http://" + edges[i].counter.addr
		case 1:
			edges[i].base = startVarnish(t, varnishd, edges[i].counter.addr)
		case 2:
			edges[i].base = startNginx(t, nginx, edges[i].counter.addr)
		case 3:
			edges[i].base = startNginx(t, nginx, edges[i].counter.addr, "proxy_cache_lock on;", "proxy_cache_lock off;")
		}
	}
	for _, n := range counts {
		for _, e := range edges {
			e.counter.reset()
			st := pollThrough(t, e.base+dir, e.counter, n, time.Duration(secs)*time.Second)
			t.Logf("%s, %d pollers: %s", e.name, n, st)
			fmt.Printf("EDGEBENCH | %s | %d | %d | %.2f / %.2f | %d | %s / %s / %s | %s / %s / %s | %d | %d |\n",
				e.name, n, st.originParts, st.playlistPerPart(), st.partPerPart(), st.maxPerURL,
				ms(pct(st.delays, 50)), ms(pct(st.delays, 95)), ms(pct(st.delays, 100)),
				ms(pct(st.waitDelays, 50)), ms(pct(st.waitDelays, 95)), ms(pct(st.waitDelays, 100)), st.window, st.errs)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
