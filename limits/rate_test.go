package limits

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// fakeClock is a settable now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(perSecond float64, burst, maxKeys int) (*RateLimiter, *fakeClock) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := NewRateLimiter(perSecond, burst, maxKeys)
	l.now = clock.now
	return l, clock
}

func TestRateLimiterBurstThenRate(t *testing.T) {
	l, clock := newTestLimiter(10, 5, 0)
	for i := range 5 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("6th request: ok=%v wait=%v, want refused with a wait of at most 100ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key is limited by the first one's bucket")
	}
	clock.advance(100 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("a token did not come back after 1/rate")
	}
	if got := l.Rejected(); got != 1 {
		t.Errorf("Rejected() = %d, want 1", got)
	}
}

func TestRateLimiterEvictsIdleBucketsAndStaysBounded(t *testing.T) {
	l, clock := newTestLimiter(1, 2, 100) // refill: 2 s
	for i := range 100 {
		if ok, _ := l.Allow(fmt.Sprint("ip", i)); !ok {
			t.Fatalf("key %d refused while the table had room", i)
		}
	}
	if ok, wait := l.Allow("one-too-many"); ok || wait <= 0 {
		t.Fatalf("a new key with a full table of active buckets: ok=%v wait=%v, want refused", ok, wait)
	}
	if n := l.Keys(); n != 100 {
		t.Fatalf("table holds %d buckets, want its bound 100", n)
	}
	clock.advance(2 * time.Second) // every bucket refilled: the same as new
	if ok, _ := l.Allow("newcomer"); !ok {
		t.Fatal("a new key refused after the idle buckets could be evicted")
	}
	if n := l.Keys(); n != 1 {
		t.Fatalf("after the sweep the table holds %d buckets, want 1", n)
	}
}

func TestNilRateLimiterAllowsEverything(t *testing.T) {
	var l *RateLimiter = NewRateLimiter(0, 10, 0)
	if l != nil {
		t.Fatal("NewRateLimiter(0, ...) is not nil (unlimited)")
	}
	if ok, _ := l.Allow("x"); !ok {
		t.Fatal("a nil limiter refused")
	}
}

func TestRateGuardAnswers429WithRetryAfter(t *testing.T) {
	g := &RateGuard{PerIP: NewRateLimiter(1, 2, 0), PerToken: NewRateLimiter(1, 3, 0),
		Applies: func(r *http.Request) bool { return r.URL.Path != "/free" }}
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	do := func(path, remote, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.RemoteAddr = remote
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 2 {
		if w := do("/whep/a", "192.0.2.1:1000", ""); w.Code != http.StatusNoContent {
			t.Fatalf("request %d within the burst: %d", i+1, w.Code)
		}
	}
	w := do("/whep/a", "192.0.2.1:1001", "")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("3rd request from one IP: %d, want 429", w.Code)
	}
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1", w.Header().Get("Retry-After"))
	}
	if w := do("/free", "192.0.2.1:1002", ""); w.Code != http.StatusNoContent {
		t.Fatalf("a request the guard does not apply to: %d", w.Code)
	}
	// One token used from three addresses: the token's own bucket (burst 3) runs out.
	for i, ip := range []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"} {
		if w := do("/api/rooms", ip+":1", "tok"); w.Code != http.StatusNoContent {
			t.Fatalf("token request %d: %d", i+1, w.Code)
		}
	}
	if w := do("/api/rooms", "192.0.2.13:1", "tok"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("4th request with one token from a fresh IP: %d, want 429", w.Code)
	}
}
