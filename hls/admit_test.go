package hls

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/glint-video/glint/limits"
)

// TestWaitingRequestsPerClientLimit: with a limit of 2 waiting requests per client, a 3rd
// blocking reload is answered 429 at once (not after the block timeout); once the waiting
// ones are answered their places are free again, and a part that is already out is served.
func TestWaitingRequestsPerClientLimit(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi")
	f.feedUntil(3 * time.Second)
	waits := limits.NewCounter("hls_blocked_per_ip", "waiting LL-HLS requests", 2, 0)
	sv.LimitWaiting(func(r *http.Request) (func(), error) { return waits.Acquire(r.RemoteAddr) })
	tr := s.track("hi")
	pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	msn, idx := pl.hintPos(t)
	url := fmt.Sprintf("/hls/room1/hi/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, idx)
	first, second := asyncGet(sv, url), asyncGet(sv, url)
	for n := 0; n < 2; {
		n, _ = waits.Count()
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	rec := get(sv, url)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("3rd waiting request of one client: %d (Retry-After %q), want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the refused request waited %v; it must be answered at once", took)
	}
	for !published(tr, msn, idx) {
		if err := f.writeNext(); err != nil {
			t.Fatal(err)
		}
	}
	for _, done := range []<-chan *httptest.ResponseRecorder{first, second} {
		if rec := <-done; rec.Code != http.StatusOK {
			t.Fatalf("a waiting request within the limit: %d", rec.Code)
		}
	}
	if n, keys := waits.Count(); n != 0 || keys != 0 {
		t.Fatalf("after the answers: %d waiting of %d clients, want none", n, keys)
	}
	part := fmt.Sprintf("/hls/room1/hi/part%d.%d.m4s", msn, idx)
	if rec := get(sv, part); rec.Code != http.StatusOK {
		t.Fatalf("GET %s after the limit freed: %d", part, rec.Code)
	}
}
