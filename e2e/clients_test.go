package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// chromiumPath is the browser browser.mjs drives ($CHROMIUM overrides, as in browser.mjs).
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// requireBrowser fails the test (it does not skip it) when node, the npm packages or Chromium
// are missing: a CI machine without them must not pass silently.
func requireBrowser(t *testing.T) {
	t.Helper()
	testkit.RequireTool(t, "node") // Node.js >= 20
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("e2e/node_modules has no playwright-core (%v): run `npm ci` in e2e/ (scripts/install-deps.sh does)", err)
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Fatalf("Chromium not found (%v): apt-get install chromium (scripts/install-deps.sh), or set CHROMIUM", err)
	}
}

// requireGStreamer fails the test when Debian's python3 with the GStreamer bindings or one of
// the elements gst_whip.py uses is missing (gst_whip.py --check says which).
func requireGStreamer(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Fatalf("/usr/bin/python3 not found (%v): apt-get install python3-gst-1.0 (scripts/install-deps.sh)", err)
	}
	out, err := testkit.Command(context.Background(), 30*time.Second, "/usr/bin/python3", "gst_whip.py", "--check")
	if err != nil {
		t.Fatalf("GStreamer is not usable (%v): %s\nscripts/install-deps.sh installs it", err, strings.TrimSpace(string(out)))
	}
}

// requireFFmpeg fails the test when ffmpeg (with libx264, which `glint demo` uses) is missing.
func requireFFmpeg(t *testing.T) {
	t.Helper()
	out, err := testkit.Command(context.Background(), 30*time.Second, testkit.RequireTool(t, "ffmpeg"), "-hide_banner", "-encoders")
	if err != nil || !strings.Contains(string(out), "libx264") {
		t.Fatalf("ffmpeg has no libx264 encoder (%v): install Debian's ffmpeg", err)
	}
}

// outbound is one video encoding of window.glintPublish.outbound (web/static/publish.js).
type outbound struct {
	RID                     string `json:"rid"`
	FrameWidth              int    `json:"frameWidth"`
	FramesEncoded           int    `json:"framesEncoded"`
	KeyFramesEncoded        int    `json:"keyFramesEncoded"`
	PLICount                int    `json:"pliCount"`
	Kbps                    int    `json:"kbps"`
	QualityLimitationReason string `json:"qualityLimitationReason"`
	EncoderImplementation   string `json:"encoderImplementation"`
	// per frame / per packet over the last second (ms), nil without frames or packets
	EncodeMs    *float64 `json:"encodeMs"`
	SendDelayMs *float64 `json:"sendDelayMs"`
}

// pageState is one sample of window.glintPublish or window.glintWatch as browser.mjs prints it
// ({"t":N, ...state}); the fields of the other page stay zero.
type pageState struct {
	T       int    `json:"t"`
	State   string `json:"state"`
	Error   string `json:"error"`
	Session string `json:"session"`
	// watch page
	Video struct {
		FramesDecoded   int     `json:"framesDecoded"`
		FrameWidth      int     `json:"frameWidth"`
		FrameHeight     int     `json:"frameHeight"`
		FramesPerSecond float64 `json:"framesPerSecond"`
		PacketsLost     int     `json:"packetsLost"`
		FreezeCount     int     `json:"freezeCount"`
		Codec           string  `json:"codec"`
		Kbps            int     `json:"kbps"`
	} `json:"video"`
	Audio struct {
		PacketsReceived  int `json:"packetsReceived"`
		ConcealedSamples int `json:"concealedSamples"`
	} `json:"audio"`
	LatencyMs *float64 `json:"latencyMs"`
	Quality   string   `json:"quality"` // the quality menu: auto, h, m or l
	Server    struct { // GET /api/sessions/{id} as the page shows it (web/static/quality.js)
		Layer        string  `json:"layer"`
		MaxLayer     string  `json:"maxLayer"`
		EstimateKbps float64 `json:"estimateKbps"`
		Paused       bool    `json:"paused"`
		NACKs        int     `json:"nacks"`
		PLIs         int     `json:"plis"`
		RTTMs        float64 `json:"rttMs"`
		FractionLost float64 `json:"fractionLost"`
	} `json:"server"`
	// publish page
	Outbound []outbound `json:"outbound"`
}

// sampleTime is the sample's second on the page (t); 0 for a line that is not a sample.
func (s pageState) sampleTime() int { return s.T }

// pageResult is browser.mjs's last line, {"result":{...}}: ok, why not, and the last state.
type pageResult struct {
	OK      bool   `json:"ok"`
	Failure string `json:"failure"`
	Samples int    `json:"samples"`
	pageState
}

// browser is one browser.mjs process: a Chromium with one of Glint's pages open.
type browser struct {
	*testkit.Proc
	t    *testing.T
	name string // in messages; quality_test names two watch pages apart
}

// startBrowser runs `node browser.mjs mode pageURL --seconds=N args...`. The Chromium profile
// goes to a test temp dir (TMPDIR), so nothing is left behind even when node is killed. Its
// stdin is a pipe: b.Send("quality h") runs a command on a watch page (browser.mjs).
func startBrowser(t *testing.T, mode, pageURL string, seconds int, args ...string) *browser {
	t.Helper()
	argv := append([]string{"node", "browser.mjs", mode, pageURL, "--seconds=" + strconv.Itoa(seconds)}, args...)
	name := "chromium " + mode
	p := testkit.StartProc(t, testkit.ProcOptions{Name: name, Env: []string{"TMPDIR=" + t.TempDir()}, Stdin: true}, argv...)
	return &browser{Proc: p, t: t, name: name}
}

// waitState waits for a per-second sample for which cond holds and returns it.
func (b *browser) waitState(timeout time.Duration, what string, cond func(pageState) bool) pageState {
	b.t.Helper()
	return waitPageSample(b, timeout, what, cond)
}

// waitPageSample waits for a per-second sample of the page, decoded as S (pageState or one that
// embeds it), for which cond holds, and returns it.
func waitPageSample[S interface{ sampleTime() int }](b *browser, timeout time.Duration, what string, cond func(S) bool) S {
	b.t.Helper()
	var got S
	b.WaitLine(timeout, what, func(line string) bool {
		var s S
		if json.Unmarshal([]byte(line), &s) != nil || s.sampleTime() == 0 {
			return false
		}
		got = s
		return cond(s)
	})
	return got
}

// finish ends the page early (SIGTERM: browser.mjs leaves the page, which DELETEs its session)
// and returns the result line; exit status 0 must agree with result.ok.
func (b *browser) finish() pageResult {
	b.t.Helper()
	err := b.Stop(30 * time.Second)
	var res pageResult
	resultLine(b.t, b.Proc, &res)
	if res.OK != (err == nil) {
		b.t.Errorf("%s: result ok=%v but exit %v", b.name, res.OK, err)
	}
	return res
}

// resultLine decodes the "result" object of the process's last {"result":...} line into v.
func resultLine(t *testing.T, p *testkit.Proc, v any) {
	t.Helper()
	lines := p.Output()
	for i := len(lines) - 1; i >= 0; i-- {
		var wrap struct {
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal([]byte(lines[i]), &wrap) == nil && wrap.Result != nil {
			if err := json.Unmarshal(wrap.Result, v); err != nil {
				t.Fatalf("%s: result line %s: %v", p.Name(), lines[i], err)
			}
			return
		}
	}
	t.Fatalf("%s printed no {\"result\":...} line (exit %v); last output: %s", p.Name(), p.ExitErr(), p.LastLine())
}

// gstLine is one JSON line of gst_whip.py.
type gstLine struct {
	HTTP     int    `json:"http"`
	Location string `json:"location"`
	ICE      string `json:"ice"`
	Error    string `json:"error"`
}

// gstResult is gst_whip.py's result object.
type gstResult struct {
	OK          bool           `json:"ok"`
	Connected   bool           `json:"connected"`
	Error       *string        `json:"error"`
	PacketsSent map[string]int `json:"packets_sent"`
}

// jsonInto decodes one JSON line into v and reports whether it was JSON.
func jsonInto(line string, v any) bool { return json.Unmarshal([]byte(line), v) == nil }
