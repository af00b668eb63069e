package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/internal/testkit"
)

// testNode builds a node (no HLS, no ingest) from args and serves its handler, with the
// admission wrapping, on an httptest server.
func testNode(t *testing.T, args ...string) (*node, *httptest.Server, *testkit.LogSink) {
	t.Helper()
	base := []string{"--http-addr", "127.0.0.1:0", "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
		"--hls=false", "--rtmp-addr=", "--srt-addr="}
	cfg, err := config.Load(append(base, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.LogSink{}
	n, err := newNode(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.admission.handler(n.mux, n.log))
	t.Cleanup(func() {
		n.endStreams()
		srv.Close()
		_ = n.ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.sfu.Close(ctx); err != nil {
			t.Errorf("sfu close: %v", err)
		}
	})
	return n, srv, logs
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestReadyzDrainsWhileHealthzStaysUp: /readyz is 200 on an idle node, 503 "overloaded"
// while the node's event-stream limit is reached, and 503 "draining" from the moment the
// shutdown begins (what run does first), while /healthz stays 200.
func TestReadyzDrainsWhileHealthzStaysUp(t *testing.T) {
	n, srv, _ := testNode(t, "--limit-event-watchers=1")
	if code, body := getStatus(t, srv.URL+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("/readyz of an idle node: %d %q", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/rooms/lobby/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %v %v", resp, err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if code, body := getStatus(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "overloaded: event streams") {
		t.Fatalf("/readyz with the node's only event stream taken: %d %q, want 503 overloaded", code, body)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := getStatus(t, srv.URL+"/readyz"); code != http.StatusOK; code, _ = getStatus(t, srv.URL+"/readyz") {
		if time.Now().After(deadline) {
			t.Fatal("/readyz stayed 503 after the event stream closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.admission.ready.Drain()
	if code, body := getStatus(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Fatalf("/readyz while draining: %d %q, want 503 draining", code, body)
	}
	if code, body := getStatus(t, srv.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz while draining: %d %q, want 200 ok", code, body)
	}
}

// TestPprofBehindTheAdminCheck: /debug/pprof/ answers this machine (the default admin
// check) and refuses any other address with 403, whatever X-Forwarded-For says; a
// configured admin check decides instead.
func TestPprofBehindTheAdminCheck(t *testing.T) {
	n, srv, _ := testNode(t)
	if code, body := getStatus(t, srv.URL+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ from loopback: %d", code)
	}
	h := n.admission.handler(n.mux, n.log)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = "203.0.113.9:4000"
		r.Header.Set("X-Forwarded-For", "127.0.0.1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Fatalf("%s from a public address: %d, want 403", path, w.Code)
		}
	}
	n.admission.admin = func(r *http.Request) bool { return r.Header.Get("X-Admin") == "yes" }
	r := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
	r.RemoteAddr = "203.0.113.9:4000"
	r.Header.Set("X-Admin", "yes")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("/debug/pprof/ allowed by the configured admin check: %d", w.Code)
	}
}

// TestAccessLog: with --access-log each request is one line with method, path (credential
// query values redacted, playback directives kept), status, bytes, duration, remote, room
// and session.
func TestAccessLog(t *testing.T) {
	_, srv, logs := testNode(t, "--access-log")
	if code, _ := getStatus(t, srv.URL+"/api/rooms/studio?token=s3cret&t=10"); code != http.StatusNotFound {
		t.Fatalf("GET of an absent room: %d", code)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/whep/studio/abc123", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := logs.String()
	for _, want := range []string{
		`msg=http method=GET path="/api/rooms/studio?t=10&token=REDACTED" status=404 bytes=`,
		"remote=127.0.0.1 proto=HTTP/1.1 room=studio",
		`msg=http method=DELETE path=/whep/studio/abc123 status=404`, "room=studio session=abc123",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the access log shows a query secret:\n%s", out)
	}
	if !strings.Contains(out, "duration=") {
		t.Errorf("access log lines lack the duration:\n%s", out)
	}
}

// TestHTTPServerBoundsHeaders: the node's HTTP server answers a header block over
// --http-max-header-bytes with 431, and carries the configured timeouts.
func TestHTTPServerBoundsHeaders(t *testing.T) {
	cfg, err := config.Load([]string{"--http-max-header-bytes=8192", "--http-idle-timeout=45s"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), false, cfg.Limits)
	if srv.ReadHeaderTimeout != 10*time.Second || srv.IdleTimeout != 45*time.Second || srv.MaxHeaderBytes != 8192 {
		t.Fatalf("server timeouts: header %v idle %v max header bytes %d", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	ts := httptest.NewUnstartedServer(srv.Handler)
	ts.Config = srv
	ts.Start()
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: %d, want 431", resp.StatusCode)
	}
	if code, _ := getStatus(t, ts.URL+"/"); code != http.StatusNoContent {
		t.Fatalf("a normal request: %d", code)
	}
}
