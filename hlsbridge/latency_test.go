package hlsbridge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glint-video/glint/internal/stats"
)

// partLatency measures capture → part available on the origin for one media playlist, as a
// low-latency client sees it: it follows EXT-X-PRELOAD-HINT with blocking reloads and, when
// the reload for part (msn, i) returns, takes the capture time of the part's last frame
// (the segment's EXT-X-PROGRAM-DATE-TIME plus the durations of the parts before it, plus
// its own, minus one frame) from the time the response was complete. The bridge stamps
// capture time as packet arrival (anchored per track, then following RTP timestamps).
type partLatency struct {
	mu      sync.Mutex
	samples []time.Duration
	errs    int
}

// partInfo is one EXT-X-PART of a playlist with its capture start.
type partInfo struct {
	start time.Time
	dur   time.Duration
}

func (p *partLatency) run(ctx context.Context, e *testEnv, url string, frameDur time.Duration) {
	next := ""
	for ctx.Err() == nil {
		u := url
		if next != "" {
			u += next
		}
		code, body, done, err := e.get(ctx, u)
		if err != nil || code != http.StatusOK {
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.errs++
			p.mu.Unlock()
			next = ""
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		parts, hint := parsePlaylist(body)
		if next != "" {
			var msn, idx int
			fmt.Sscanf(next, "?_HLS_msn=%d&_HLS_part=%d", &msn, &idx)
			if pi, ok := parts[[2]int{msn, idx}]; ok {
				captured := pi.start.Add(pi.dur - frameDur)
				p.mu.Lock()
				p.samples = append(p.samples, done.Sub(captured))
				p.mu.Unlock()
			}
		}
		if hint == [2]int{} {
			next = ""
			continue
		}
		next = fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d", hint[0], hint[1])
	}
}

// parsePlaylist returns the parts of a media playlist by (msn, index) and its preload hint.
func parsePlaylist(body []byte) (map[[2]int]partInfo, [2]int) {
	parts := map[[2]int]partInfo{}
	var hint [2]int
	var pdt time.Time
	var offset time.Duration
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			pdt, _ = time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
			offset = 0
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			attrs := strings.TrimPrefix(line, "#EXT-X-PART:")
			var secs float64
			var msn, idx int
			for _, a := range strings.Split(attrs, ",") {
				k, v, _ := strings.Cut(a, "=")
				switch k {
				case "DURATION":
					secs, _ = strconv.ParseFloat(v, 64)
				case "URI":
					fmt.Sscanf(strings.Trim(v, `"`), "part%d.%d.m4s", &msn, &idx)
				}
			}
			d := time.Duration(secs * float64(time.Second))
			parts[[2]int{msn, idx}] = partInfo{start: pdt.Add(offset), dur: d}
			offset += d
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			_, uri, _ := strings.Cut(line, "URI=")
			fmt.Sscanf(strings.Trim(uri, `"`), "part%d.%d.m4s", &hint[0], &hint[1])
		}
	}
	return parts, hint
}

// percentiles returns p50 and p95 of the samples, and how many there were.
func (p *partLatency) percentiles() (p50, p95 time.Duration, n int) {
	p.mu.Lock()
	s := slices.Clone(p.samples)
	p.mu.Unlock()
	if len(s) == 0 {
		return 0, 0, 0
	}
	slices.Sort(s)
	return stats.Quantile(s, 0.5), stats.Quantile(s, 0.95), len(s)
}
