package loadtest_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/loadtest"
)

func writeTempFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedAddr returns a loopback TCP address that nothing listens on any more.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

func TestCommandErrorsAreOneLine(t *testing.T) {
	closed := closedAddr(t)
	unknownField := writeTempFile(t, "unknown.yaml", "url: http://127.0.0.1:1\nviewrs: [1]\n")
	badYAML := writeTempFile(t, "bad.yaml", "viewers: [1, 2\n")
	badValue := writeTempFile(t, "value.yaml", "duration: soon\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--viewers", "1,x"}, "want counts"},
		{[]string{"--viewers", "0"}, "viewers: want at least one step"},
		{[]string{"--publisher", "file"}, `publisher "file"`},
		{[]string{"--viewer", "heavy"}, `viewer "heavy"`},
		{[]string{"--size", "big"}, `size "big"`},
		{[]string{"--url", "ftp://x"}, `url "ftp://x"`},
		{[]string{"--max-layer", "q"}, `max layer "q"`},
		{[]string{"--publishers", "2", "--whep-url", "http://h/whep/one"}, "needs {room}"},
		{[]string{"--duration", "1ms"}, "step 1ms"},
		{[]string{"--viewer", "bare", "--viewer-reports", "-1s"}, "viewer reports -1s: must not be negative"},
		{[]string{"--viewer", "bare", "--viewer-reports", "50ms"}, "viewer reports 50ms: too frequent"},
		{[]string{"--viewer-reports", "1s"}, "only bare viewers"},
		{[]string{"--viewer", "bare", "--viewer-poll", "500us"}, "viewer poll 500µs: want 1ms-250ms"},
		{[]string{"--viewer", "bare", "--viewer-poll", "1s"}, "viewer poll 1s: want 1ms-250ms"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--scenario", "/nonexistent.yaml"}, "scenario: open /nonexistent.yaml"},
		{[]string{"--scenario", unknownField}, "field viewrs not found"},
		{[]string{"--scenario", badYAML}, "scenario " + badYAML},
		{[]string{"--scenario", badValue}, "scenario " + badValue},
		{[]string{"--url", "http://" + closed, "--viewers", "1"}, "server unreachable"},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := loadtest.Command(ctx, tc.args, &out, &errOut)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("glint loadtest %v: got %v, want one line containing %q", tc.args, err, tc.want)
		}
		if strings.Contains(errOut.String(), "goroutine ") || out.Len() > 0 {
			t.Errorf("glint loadtest %v: stdout %q, stderr %q", tc.args, out.String(), errOut.String())
		}
	}
}

func TestParseFlagsScenarioThenFlags(t *testing.T) {
	path := writeTempFile(t, "s.yaml", `
url: http://example.org:8080
whep_url: http://edge.example.org/whep/{room}
room: studio
publishers: 2
publisher: live
viewers: [10, 20]
hls_viewers: 3
duration: 20s
bitrate: 1200
capacity: true
max_latency_p95: 250ms
viewer: bare
viewer_reports: 500ms
viewer_poll: 5ms
json: out.json
`)
	o, err := loadtest.ParseFlags([]string{"--scenario", path, "--bitrate", "800", "--room", "other"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	switch {
	case o.URL != "http://example.org:8080" || o.WHEPURL != "http://edge.example.org/whep/{room}" || o.WHIPURL != "":
		t.Errorf("URLs %q %q %q", o.URL, o.WHEPURL, o.WHIPURL)
	case o.Room != "other" || o.BitrateKbps != 800:
		t.Errorf("flags did not override the file: room %q, bitrate %d", o.Room, o.BitrateKbps)
	case o.Publishers != 2 || o.PublisherMode != "live" || !slices.Equal(o.Viewers, []int{10, 20}) || o.HLSViewers != 3:
		t.Errorf("from the file: %+v", o)
	case o.Step != 20*time.Second || !o.Capacity || o.MaxLatencyP95 != 250*time.Millisecond || o.JSON != "out.json":
		t.Errorf("from the file: %+v", o)
	case o.ViewerMode != "bare" || o.ViewerReports != 500*time.Millisecond || o.ViewerPoll != 5*time.Millisecond:
		t.Errorf("from the file: %+v", o)
	case o.FPS != 30 || o.Width != 1280 || o.Height != 720 || !o.LoopbackOnly || o.MaxLossPercent != 1:
		t.Errorf("defaults lost: %+v", o)
	}
}

func TestCommandHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := loadtest.Command(context.Background(), []string{"--help"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"-scenario", "-whip-url", "-whep-url", "-hls-url", "-publishers", "-publisher", "-viewers",
		"-hls-viewers", "-viewer", "-viewer-reports", "-viewer-poll", "-max-layer", "-duration", "-ramp-rate", "-capacity", "-max-latency-p95", "-max-loss",
		"-server-pid", "-metrics-url", "-json"} {
		if help := errOut.String(); !strings.Contains(help, "  "+flag+" ") && !strings.Contains(help, "  "+flag+"\n") {
			t.Errorf("loadtest --help does not document %s", flag)
		}
	}
	if loadtest.IsTerminal(&out) {
		t.Error("a buffer is not a terminal")
	}
}

func TestExampleScenarioParses(t *testing.T) {
	o, err := loadtest.ParseFlags([]string{"--scenario", "../docs/loadtest-example.yaml"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("docs/loadtest-example.yaml: %v", err)
	}
	if len(o.Viewers) == 0 || o.HLSViewers == 0 || o.Step == 0 {
		t.Errorf("example scenario: %+v", o)
	}
}
