package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is an SFU with WHEP signaling on httptest and an ingest Server, all on 127.0.0.1.
type env struct {
	sfu     *sfu.SFU
	url     string // http base URL
	ingest  *Server
	rtmp    string // rtmp://127.0.0.1:port
	srtPort int
	logs    *logSink
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	return newEnvWith(t, mod, nil)
}

// envHook adds a service to a test env (the HLS bridge): it registers its handlers on mux
// and runs under ctx; the returned wait blocks until it has ended, before the SFU closes.
type envHook func(ctx context.Context, media *sfu.SFU, mux *http.ServeMux, log *slog.Logger) (wait func())

func newEnvWith(t testing.TB, mod func(*Config), hook envHook) *env {
	t.Helper()
	logs := &logSink{}
	var w io.Writer = logs
	if os.Getenv("GLINT_TEST_LOG") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	media, err := sfu.New(sfu.Options{
		Transport:   sfu.TransportConfig{UDPPort: 0, ICEIPs: []string{"127.0.0.1"}, ICETimeout: 3 * time.Second},
		PLIInterval: 200 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	signaling.New(signaling.Options{SFU: media, Logger: log, Context: ctx}).Register(mux)
	hookDone := func() {}
	if hook != nil {
		hookDone = hook(ctx, media, mux, log)
	}
	hs := httptest.NewServer(mux)
	cfg := Config{RTMPAddr: "127.0.0.1:0", SRTAddr: "127.0.0.1:0", IdleTimeout: 3 * time.Second,
		KeyframeTimeout: 4 * time.Second, Log: log}
	if mod != nil {
		mod(&cfg)
	}
	ing, err := New(cfg, media)
	if err != nil {
		cancel()
		hookDone()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ing.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		hookDone()
		hs.Close()
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := media.Close(closeCtx); err != nil {
			t.Errorf("sfu close: %v", err)
		}
	})
	return &env{sfu: media, url: hs.URL, ingest: ing, logs: logs,
		rtmp: "rtmp://" + ing.RTMPAddr().String(), srtPort: ing.SRTAddr().(*net.UDPAddr).Port}
}

func (e *env) srtURL(streamID string, extra string) string {
	return fmt.Sprintf("srt://127.0.0.1:%d?streamid=%s&pkt_size=1316%s", e.srtPort, streamID, extra)
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *env) waitLive(t *testing.T, ctx context.Context, room string) {
	t.Helper()
	eventually(t, ctx, "room "+room+" live", func() bool {
		info, ok := e.sfu.Room(room)
		return ok && info.Live
	})
}

func (e *env) status(room string) (StreamStatus, bool) {
	for _, st := range e.ingest.Status() {
		if st.Room == room {
			return st, true
		}
	}
	return StreamStatus{}, false
}

// logSink collects log output for assertions.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLog waits for a log line that contains every one of parts.
func (e *env) waitLog(t *testing.T, ctx context.Context, parts ...string) string {
	t.Helper()
	var found string
	eventually(t, ctx, fmt.Sprintf("a log line with %q", parts), func() bool {
		for _, line := range strings.Split(e.logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				found = line
				return true
			}
		}
		return false
	})
	return found
}

// tool returns the path of an external program; the test fails when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required (scripts/install-deps.sh installs it): %v", name, err)
	}
	return p
}

// source is the ffmpeg input and H.264 options: 320x240 testsrc2 + 440 Hz sine, 1 s GOP.
func source(bframes bool) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "300k"}
	if bframes {
		return append(args, "-preset", "veryfast", "-bf", "2")
	}
	return append(args, "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline", "-bf", "0")
}

// proc is a running external client.
type proc struct {
	cmd    *exec.Cmd
	stderr *logSink
	done   chan struct{}
	err    error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(tool(t, name), args...), stderr: &logSink{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	// Own process group, so that kill reaches a whole pipeline (sh -c 'ffmpeg | srt-live-transmit').
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

// startShell runs a pipeline under sh (for ffmpeg | srt-live-transmit).
func startShell(t *testing.T, script string) *proc {
	t.Helper()
	tool(t, "sh")
	return start(t, "sh", "-c", script)
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// wait waits for the process to exit and returns its error (nil on exit 0).
func (p *proc) wait(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		t.Fatalf("%s still running; stderr: %s", p.cmd.Path, p.stderr.String())
		return nil
	}
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// viewer is a WHEP viewer that records every packet it gets.
type viewer struct {
	sess *client.Session
	mu   sync.Mutex
	pkts map[string][]*rtp.Packet
}

func startViewer(t *testing.T, ctx context.Context, e *env, room string) *viewer {
	t.Helper()
	v := &viewer{pkts: map[string][]*rtp.Packet{}}
	opts := client.Options{LoopbackOnly: true, OnTrack: func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		kind := track.Kind().String()
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			v.pkts[kind] = append(v.pkts[kind], pkt)
			v.mu.Unlock()
		}
	}}
	sess, err := client.Play(ctx, e.url+"/whep/"+room, opts)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	v.sess = sess
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("viewer connect: %v", err)
	}
	return v
}

func (v *viewer) packets(kind string) []*rtp.Packet {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*rtp.Packet(nil), v.pkts[kind]...)
}

func (v *viewer) count(kind string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.pkts[kind])
}
