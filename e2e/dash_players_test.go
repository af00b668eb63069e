package e2e

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// dashLatency bounds dash.js's live latency on loopback (its target is the MPD's
// ServiceDescription, 1.5 s with 333 ms parts; a loaded machine stalls now and then).
const dashLatency = 5.0

// playerSample is one player's state in a players.mjs line.
type playerSample struct {
	CurrentTime   float64  `json:"currentTime"`
	Width         int      `json:"width"`
	Decoded       int      `json:"decoded"`
	Latency       *float64 `json:"latency"`
	TargetLatency *float64 `json:"targetLatency"`
	LowLatency    *bool    `json:"lowLatency"`
	G2GMs         *float64 `json:"g2gMs"`
	BufferS       float64  `json:"bufferS"`
	DVRWindow     *float64 `json:"dvrWindow"`
	Seeked        bool     `json:"seeked"`
	Error         string   `json:"error"`
}

type playersLine struct {
	T    int           `json:"t"`
	DASH *playerSample `json:"dash"`
	HLS  *playerSample `json:"hls"`
}

// playDASHAndHLS: dash.js and hls.js play the room side by side (players.mjs) for 45 s; both
// play, dash.js in low-latency mode; over the last 20 s, dash.js's median live latency is
// under dashLatency. Both players' latencies (their own estimate, and the wall clock minus
// the capture time of the frame on screen) are logged.
func playDASHAndHLS(t *testing.T, srv *server, room string) {
	p := testkit.StartProc(t, testkit.ProcOptions{Name: "players", Env: []string{"TMPDIR=" + t.TempDir()}},
		"node", "players.mjs", srv.base, room, "--seconds=45")
	if err := p.Wait(120 * time.Second); err != nil {
		t.Fatalf("players.mjs: %v; its output ends:\n%s", err, testkit.Tail(p.Stderr(), 3000))
	}
	var lines []playersLine
	for _, line := range p.Output() {
		var l playersLine
		if json.Unmarshal([]byte(line), &l) == nil && l.T > 0 {
			lines = append(lines, l)
		}
	}
	if len(lines) < 40 {
		t.Fatalf("players.mjs printed %d samples; want 45", len(lines))
	}
	last := lines[len(lines)-1]
	if last.DASH == nil || last.DASH.LowLatency == nil || !*last.DASH.LowLatency || last.DASH.Width == 0 {
		t.Errorf("dash.js: %+v: want playing in low-latency mode", last.DASH)
	}
	settled := lines[len(lines)-20:]
	dashLat := collect(settled, func(l playersLine) *float64 { return l.DASH.Latency })
	dashG2G := collect(settled, func(l playersLine) *float64 { return l.DASH.G2GMs })
	hlsLat := collect(settled, func(l playersLine) *float64 { return l.HLS.Latency })
	hlsG2G := collect(settled, func(l playersLine) *float64 { return l.HLS.G2GMs })
	if len(dashLat) < 10 || median(dashLat) >= dashLatency {
		t.Errorf("dash.js live latency over the last 20 s: %v; want a median under %.0f s", dashLat, dashLatency)
	}
	t.Logf("last 20 s, median (max): dash.js latency %.2f s (%.2f), capture→screen %.0f ms (%.0f); hls.js latency %.2f s (%.2f), capture→screen %.0f ms (%.0f); targets: dash.js %v s, hls.js %v s",
		median(dashLat), slices.Max(append(dashLat, 0)), median(dashG2G), slices.Max(append(dashG2G, 0)),
		median(hlsLat), slices.Max(append(hlsLat, 0)), median(hlsG2G), slices.Max(append(hlsG2G, 0)),
		deref(last.DASH.TargetLatency), deref(last.HLS.TargetLatency))
}

func collect(lines []playersLine, field func(playersLine) *float64) []float64 {
	var out []float64
	for _, l := range lines {
		if l.DASH == nil || l.HLS == nil {
			continue
		}
		if v := field(l); v != nil && *v > 0 {
			out = append(out, *v)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
