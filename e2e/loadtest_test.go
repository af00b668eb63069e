package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/loadtest"
)

// TestLoadtestAgainstServe runs `glint loadtest` (1 live-encoded publisher, 5 WebRTC
// viewers, 2 LL-HLS viewers) against `glint serve` with LL-HLS on, and checks that every
// viewer of both kinds got decodable frames with capture times and that the JSON report
// is complete.
func TestLoadtestAgainstServe(t *testing.T) {
	s := startServer(t, "--hls=true")
	report := filepath.Join(t.TempDir(), "report.json")
	lt := testkit.StartProc(t, testkit.ProcOptions{Name: "glint loadtest"}, glintBin(t), "loadtest", "--url", s.base,
		"--publisher", "live", "--viewers", "5", "--hls-viewers", "2", "--duration", "4s", "--warmup", "6s",
		"--server-pid", strconv.Itoa(s.proc.Pid()), "--json", report)
	if err := lt.Wait(5 * time.Minute); err != nil {
		t.Fatalf("glint loadtest: %v\nstderr:\n%s", err, testkit.Tail(lt.Stderr(), 3000))
	}
	table := strings.Join(lt.Output(), "\n")
	for _, want := range []string{"latency p50", "webrtc", "llhls"} {
		if !strings.Contains(table, want) {
			t.Errorf("table has no %q:\n%s", want, table)
		}
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r loadtest.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	if r.Error != "" || r.Baseline == nil || len(r.Steps) != 1 || len(r.Publishers) != 1 {
		t.Fatalf("report: error %q, baseline %v, %d steps, %d publishers", r.Error, r.Baseline != nil, len(r.Steps), len(r.Publishers))
	}
	if p := r.Publishers[0]; p.Frames == 0 || p.Keyframes == 0 || p.Error != "" {
		t.Errorf("publisher: %+v", p)
	}
	step := r.Steps[0]
	checkViewers(t, "webrtc", step.WebRTC, 5)
	checkViewers(t, "llhls", step.LLHLS, 2)
	if step.ServerCPUPercent <= 0 || step.ServerRSSBytes <= 0 || step.LoadgenCPUPercent <= 0 || r.Baseline.ServerRSSBytes <= 0 {
		t.Errorf("server CPU %v%%, RSS %d, load generator CPU %v%%", step.ServerCPUPercent, step.ServerRSSBytes, step.LoadgenCPUPercent)
	}
	if r.Params.PublisherMode != "live" || r.Params.HLSViewers != 2 || r.Params.WHEPURL == "" || r.Machine.GoVersion == "" {
		t.Errorf("params %+v, machine %+v", r.Params, r.Machine)
	}
}

func checkViewers(t *testing.T, kind string, c *loadtest.ClientStats, want int) {
	t.Helper()
	if c == nil {
		t.Fatalf("%s: no statistics", kind)
	}
	if c.Viewers != want || c.Alive != want || c.Joined != want || c.JoinsMeasured != want {
		t.Errorf("%s: %d viewers, %d alive, %d joined (%d join times); want %d", kind, c.Viewers, c.Alive, c.Joined, c.JoinsMeasured, want)
	}
	if c.FramesSent <= 0 || c.FramesReceivedMin == 0 {
		t.Errorf("%s: %v frames sent per viewer, fewest received %d: want every viewer to get frames", kind, c.FramesSent, c.FramesReceivedMin)
	}
	if c.LatencySamples == 0 || c.LatencyP50Ms <= 0 || c.LatencyP95Ms < c.LatencyP50Ms || c.LatencyMaxMs < c.LatencyP99Ms {
		t.Errorf("%s: latency p50 %v p95 %v p99 %v max %v (%d samples)", kind, c.LatencyP50Ms, c.LatencyP95Ms, c.LatencyP99Ms, c.LatencyMaxMs, c.LatencySamples)
	}
	if c.JoinP50Ms <= 0 || c.JoinP95Ms < c.JoinP50Ms || c.BitrateKbps <= 0 {
		t.Errorf("%s: join p50 %v p95 %v, %v kbit/s", kind, c.JoinP50Ms, c.JoinP95Ms, c.BitrateKbps)
	}
}

// TestLoadtestErrorsExit: a target where nothing listens, or a bad scenario file, ends
// `glint loadtest` with exit status 2 and one line on stderr, no stack trace.
func TestLoadtestErrorsExit(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("viewers: [1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://127.0.0.1:" + strconv.Itoa(freeTCPPort(t)), "--viewers", "1"}, "glint: loadtest: server unreachable"},
		{[]string{"--scenario", bad}, "glint: loadtest: scenario " + bad},
		{[]string{"--viewers", "many"}, "glint: loadtest: invalid value"},
	} {
		cmd := exec.Command(glintBin(t), append([]string{"loadtest"}, tc.args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("glint loadtest %v: %v, want exit status 2", tc.args, err)
		}
		// Progress lines may come first; the error is the last line, and the only one like it.
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, tc.want) || strings.Contains(stderr.String(), "goroutine ") {
			t.Errorf("glint loadtest %v: stderr %q, want a last line starting %q", tc.args, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("glint loadtest %v: stdout %q", tc.args, stdout.String())
		}
	}
}
