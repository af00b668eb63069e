package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// httpClient keeps no idle connections, so no goroutine of it outlives a request (goleak).
var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

var (
	buildOnce sync.Once
	buildDir  string // holds the glint binary built by glintBin; TestMain removes it
	builtBin  string
	buildErr  error
)

// glintBin returns $GLINT_BIN, or a glint binary built once for the package.
func glintBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("GLINT_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("GLINT_BIN=%s: %v", bin, err)
		}
		return bin
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "glint-e2e-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "glint")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/glint-video/glint/cmd/glint").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/glint: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// server is a `glint serve` process on free loopback ports.
type server struct {
	killed bool   // a test killed it on purpose (SIGKILL): no graceful stop to check
	base   string // http://127.0.0.1:PORT
	proc   *testkit.Proc
}

// startServer starts `glint serve` on 127.0.0.1 with only loopback ICE candidates and no
// ICE-TCP, and waits for /healthz. At cleanup — after the clients, which were started later —
// it stops the server with SIGTERM and checks the graceful shutdown: exit status 0 and the
// "stopped" log line, and no panic in the log.
func startServer(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	bin := glintBin(t)
	var lastErr string
	for attempt := 1; attempt <= 3; attempt++ {
		httpPort, udpPort := freeTCPPort(t), freeUDPPort(t)
		args := []string{bin, "serve",
			"--http-addr", "127.0.0.1:" + strconv.Itoa(httpPort),
			"--udp-port", strconv.Itoa(udpPort),
			"--ice-ip", "127.0.0.1", "--ice-tcp=false",
			// WebRTC-only by default: transcoding and ingest listeners would compete with the
			// browsers for the 2 CPUs; tests that want them pass their own flags last.
			"--hls=false", "--rtmp-addr=", "--srt-addr=",
			"--data-dir", t.TempDir(), // the DVR records rooms when a test turns LL-HLS on
		}
		for _, a := range extraArgs { // "{http}" in an argument is this server's HTTP port
			args = append(args, strings.ReplaceAll(a, "{http}", strconv.Itoa(httpPort)))
		}
		p := testkit.StartProc(t, testkit.ProcOptions{Name: "glint serve"}, args...)
		s := &server{base: "http://127.0.0.1:" + strconv.Itoa(httpPort), proc: p}
		if s.waitHealthy(10 * time.Second) {
			t.Cleanup(func() { s.stopGracefully(t) })
			return s
		}
		_ = p.Stop(5 * time.Second)
		lastErr = testkit.Tail(p.Stderr(), 2000)
		if !strings.Contains(lastErr, "address already in use") {
			break // only a port race is worth another try
		}
	}
	t.Fatalf("glint serve did not become healthy; its log ends:\n%s", lastErr)
	return nil
}

func (s *server) waitHealthy(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && !s.proc.Exited() {
		resp, err := httpClient.Get(s.base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (s *server) stopGracefully(t *testing.T) {
	t.Helper()
	if s.killed {
		return
	}
	begin := time.Now()
	err := s.proc.Stop(20 * time.Second)
	t.Logf("glint serve exited %.1fs after SIGTERM", since(begin))
	log := s.proc.Stderr()
	if err != nil {
		t.Errorf("glint serve after SIGTERM: %v (want exit status 0)", err)
	}
	if !strings.Contains(log, "msg=stopped") {
		t.Errorf("glint serve did not log \"stopped\" after SIGTERM")
	}
	if strings.Contains(log, "panic:") || strings.Contains(log, "DATA RACE") {
		t.Errorf("glint serve log has a panic or a data race")
	}
}

func (s *server) url(path string) string { return s.base + path }

// roomTrack and roomInfo are the shapes of GET /api/rooms (docs/api.md).
type roomTrack struct {
	Kind   string   `json:"kind"`
	Codec  string   `json:"codec"`
	Fmtp   string   `json:"fmtp"`
	Layers []string `json:"layers"`
}

type roomInfo struct {
	Name    string      `json:"name"`
	Live    bool        `json:"live"`
	Viewers int         `json:"viewers"`
	Tracks  []roomTrack `json:"tracks"`
	Since   string      `json:"since"`
}

func (r roomInfo) track(kind string) (roomTrack, bool) {
	for _, tr := range r.Tracks {
		if tr.Kind == kind {
			return tr, true
		}
	}
	return roomTrack{}, false
}

// rooms is GET /api/rooms.
func (s *server) rooms(t *testing.T) []roomInfo {
	t.Helper()
	resp, err := httpClient.Get(s.url("/api/rooms"))
	if err != nil {
		t.Fatalf("GET /api/rooms: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/rooms: %d %s", resp.StatusCode, body)
	}
	var rooms []roomInfo
	if err := json.Unmarshal(body, &rooms); err != nil {
		t.Fatalf("GET /api/rooms: %v in %s", err, body)
	}
	return rooms
}

// waitRoom polls GET /api/rooms until room is listed and cond holds.
func (s *server) waitRoom(t *testing.T, room string, timeout time.Duration, what string, cond func(roomInfo) bool) roomInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []roomInfo
	for {
		last = s.rooms(t)
		for _, r := range last {
			if r.Name == room && cond(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /api/rooms: room %q not %s within %v; last answer: %+v", room, what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free TCP port: %v", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free UDP port: %v", err)
	}
	defer func() { _ = c.Close() }()
	return c.LocalAddr().(*net.UDPAddr).Port
}
