package dashboard

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRecentErrorsKeepsWarningsNewestFirst(t *testing.T) {
	var out bytes.Buffer
	recent := NewRecentErrors(3)
	log := slog.New(recent.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log.Info("started")
	log.With("room", "studio").WithGroup("ingest").Warn("stall", "conn", "rtmp-1", slog.Group("clock", "offset", "2s"))
	for _, msg := range []string{"e1", "e2", "e3"} {
		log.Error(msg, "n", msg)
	}
	got := recent.Records()
	if len(got) != 3 || got[0].Message != "e3" || got[2].Message != "e1" {
		t.Fatalf("records %+v, want the last 3 (e3, e2, e1)", got)
	}
	if got[0].Level != "ERROR" || got[0].Attrs["n"] != "e3" {
		t.Errorf("newest record %+v", got[0])
	}
	if !strings.Contains(out.String(), "msg=started") || strings.Count(out.String(), "level=ERROR") != 3 {
		t.Errorf("the wrapped handler did not get every record:\n%s", out.String())
	}

	recent = NewRecentErrors(10)
	log = slog.New(recent.Handler(slog.NewTextHandler(&out, nil)))
	log.With("room", "studio").WithGroup("ingest").Warn("stall", "conn", "rtmp-1", slog.Group("clock", "offset", "2s"))
	log.Info("not kept")
	got = recent.Records()
	if len(got) != 1 {
		t.Fatalf("records %+v, want only the warning", got)
	}
	want := map[string]string{"room": "studio", "ingest.conn": "rtmp-1", "ingest.clock.offset": "2s"}
	for k, v := range want {
		if got[0].Attrs[k] != v {
			t.Errorf("attr %s = %q, want %q (all: %v)", k, got[0].Attrs[k], v, got[0].Attrs)
		}
	}
}

// TestRecentErrorsBelowHandlerLevel: warnings are kept even when the wrapped handler logs
// only errors.
func TestRecentErrorsBelowHandlerLevel(t *testing.T) {
	var out bytes.Buffer
	recent := NewRecentErrors(5)
	log := slog.New(recent.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})))
	log.Warn("slow")
	if len(recent.Records()) != 1 || out.Len() != 0 {
		t.Errorf("records %+v, output %q: want the warning kept and not written", recent.Records(), out.String())
	}
}

func TestGuardDefaultsToLoopback(t *testing.T) {
	d := New(Options{})
	h := d.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for addr, want := range map[string]int{
		"127.0.0.1:5000": http.StatusNoContent, "[::1]:5000": http.StatusNoContent,
		"192.0.2.7:5000": http.StatusForbidden, "[2001:db8::1]:5000": http.StatusForbidden, "garbage": http.StatusForbidden,
	} {
		req := httptest.NewRequest("GET", "/api/dashboard", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("from %s: status %d, want %d", addr, rec.Code, want)
		}
	}
	proxied := httptest.NewRequest("GET", "/api/dashboard", nil)
	proxied.RemoteAddr = "127.0.0.1:5000"
	proxied.Header.Set("X-Forwarded-For", "192.0.2.7")
	if Loopback(proxied) {
		t.Error("a request forwarded by a local proxy passed as loopback")
	}
	admin := New(Options{Allow: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer admin" }})
	req := httptest.NewRequest("GET", "/api/dashboard", nil)
	req.RemoteAddr = "192.0.2.7:5000"
	req.Header.Set("Authorization", "Bearer admin")
	rec := httptest.NewRecorder()
	admin.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })).ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Errorf("Options.Allow ignored: status %d", rec.Code)
	}
}
