package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthURL(t *testing.T) {
	tests := []struct {
		addr string
		tls  bool
		want string
	}{
		{":8080", false, "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:9090", false, "http://127.0.0.1:9090/healthz"},
		{"[::]:8080", true, "https://127.0.0.1:8080/healthz"},
		{"10.1.2.3:8080", false, "http://10.1.2.3:8080/healthz"},
		{"[::1]:8080", false, "http://[::1]:8080/healthz"},
	}
	for _, tt := range tests {
		if got, err := healthURL(tt.addr, tt.tls); err != nil || got != tt.want {
			t.Errorf("healthURL(%q, %v) = %q, %v; want %q", tt.addr, tt.tls, got, err, tt.want)
		}
	}
	if _, err := healthURL("8080", false); err == nil {
		t.Error("healthURL(\"8080\"): no error for an address without a port")
	}
}

// TestHealthcheckCommand: `glint healthcheck` succeeds on a 200 from /healthz and fails on
// anything else, or when nothing listens.
func TestHealthcheckCommand(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	addr := strings.TrimPrefix(srv.URL, "http://")
	check := func() error {
		return run(context.Background(), []string{"healthcheck", "--addr", addr}, io.Discard, io.Discard)
	}
	if err := check(); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := check(); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("server answering 503: %v, want an error naming the status", err)
	}
	srv.Close()
	if err := check(); err == nil {
		t.Error("no server: no error")
	}
}
