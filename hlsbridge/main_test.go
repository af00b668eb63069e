package hlsbridge

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"go.uber.org/goleak"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelFatal) // libx264 prints its settings, the decoder every bad slice of the junk room
	goleak.VerifyTestMain(m)
}

// testEnv is an SFU plus signaling plus an hls.Server at /hls/ on httptest, media on
// 127.0.0.1 only (the signaling tests' newTestServer, with HLS).
type testEnv struct {
	sfu    *sfu.SFU
	hls    *hls.Server
	url    string
	log    *slog.Logger
	logs   *logBuffer
	client *http.Client
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	log, logs := newTestLog(t)
	media, err := sfu.New(sfu.Options{
		Transport:   sfu.TransportConfig{UDPPort: 0, ICETCP: false, ICEIPs: []string{"127.0.0.1"}, ICETimeout: 3 * time.Second},
		PLIInterval: 200 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := hls.NewServer(log)
	mux := http.NewServeMux()
	signaling.New(signaling.Options{SFU: media, Logger: log, Context: ctx}).Register(mux)
	mux.Handle("/hls/", hs)
	srv := httptest.NewServer(mux)
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(func() {
		cancel()
		client.CloseIdleConnections()
		srv.Close()
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := media.Close(closeCtx); err != nil {
			t.Errorf("sfu close: %v", err)
		}
	})
	return &testEnv{sfu: media, hls: hs, url: srv.URL, log: log, logs: logs, client: client}
}

// get fetches url and returns the status, the body and when the response was complete.
func (e *testEnv) get(ctx context.Context, url string) (int, []byte, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	res, err := e.client.Do(req)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, time.Now(), err
}

// waitFor polls url until check accepts its body (status 200), failing the test at ctx's end.
func (e *testEnv) waitFor(t *testing.T, ctx context.Context, what, url string, check func(string) bool) string {
	t.Helper()
	var last string
	for {
		if code, body, _, err := e.get(ctx, url); err == nil && code == http.StatusOK {
			if last = string(body); check(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not seen at %s before the deadline; last body:\n%s", what, url, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newTestLog keeps the log in memory and prints it when the test fails (or with -v).
func newTestLog(t *testing.T) (*slog.Logger, *logBuffer) {
	w := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("log:\n%s", w.tail(400))
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})), w
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *logBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *logBuffer) contains(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Contains(w.buf.Bytes(), []byte(s))
}

// tail returns the last n lines that mention hlsbridge, hls or transcoder, or warnings.
func (w *logBuffer) tail(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keep []string
	for _, line := range strings.Split(w.buf.String(), "\n") {
		if strings.Contains(line, "hls") || strings.Contains(line, "transcoder") || strings.Contains(line, "level=WARN") ||
			strings.Contains(line, "level=ERROR") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

// requireTools fails (never skips) when a tool the end-to-end tests drive is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (apt-get install ffmpeg; scripts/install-deps.sh): %v", tool, err)
		}
	}
}

// command runs a tool with a timeout and returns its combined output.
func command(ctx context.Context, timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}
