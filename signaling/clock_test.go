package signaling_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/signaling"
)

// TestServerTime: GET /api/time answers the server's clock as JSON (milliseconds and RFC 3339)
// or as a bare ISO 8601 instant, never cached; an unknown format is a 400 with the reason.
func TestServerTime(t *testing.T) {
	srv := testnode.Start(t, testnode.Options{})
	before := time.Now()
	resp, err := http.Get(srv.URL + "/api/time")
	if err != nil {
		t.Fatal(err)
	}
	var st signaling.ServerTime
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	after := time.Now()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /api/time: %d %v, Cache-Control %q", resp.StatusCode, err, resp.Header.Get("Cache-Control"))
	}
	ms := float64(before.UnixMicro())/1000 - 1
	if st.NowMs < ms || st.NowMs > float64(after.UnixMicro())/1000+1 || st.Now.Before(before.Add(-time.Millisecond)) {
		t.Errorf("server time %.3f ms (%v), want between %v and %v", st.NowMs, st.Now, before, after)
	}
	resp, err = http.Get(srv.URL + "/api/time?format=iso")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if at, err := time.Parse(time.RFC3339Nano, string(body)); err != nil || at.Before(before.Add(-time.Millisecond)) {
		t.Errorf("?format=iso: %q (%v)", body, err)
	}
	resp, err = http.Get(srv.URL + "/api/time?format=ntp")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "want json or iso") {
		t.Errorf("?format=ntp: %d %q, want 400 with the reason", resp.StatusCode, body)
	}
}
