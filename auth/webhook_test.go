package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// hook is a test authorization webhook: it allows the rooms in allow, answers 403 with a
// reason otherwise, waits delay first, and records what it was asked.
type hook struct {
	*httptest.Server
	mu    sync.Mutex
	asked []WebhookRequest
	allow map[string]bool
	delay time.Duration
}

func newHook(t *testing.T, allow ...string) *hook {
	h := &hook{allow: map[string]bool{}}
	for _, r := range allow {
		h.allow[r] = true
	}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req WebhookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		h.mu.Lock()
		h.asked = append(h.asked, req)
		delay, ok := h.delay, h.allow[req.Room]
		h.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		if !ok {
			http.Error(w, "not on the guest list", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) calls() []WebhookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]WebhookRequest(nil), h.asked...)
}

// TestWebhook: the webhook allows and denies with its reason, gets the action, room,
// protocol, ip and token, is asked once per (action, room, credential) within the cache
// TTL, again after it, and a timeout denies, is logged, and is not cached.
func TestWebhook(t *testing.T) {
	c := newClock()
	h := newHook(t, "open-room")
	log, logs := testkit.NewLogger(t)
	a := newTestAuthorizer(t, c, Options{WebhookURL: h.URL, WebhookTimeout: 300 * time.Millisecond, WebhookCacheTTL: time.Minute, Log: log})
	ctx := context.Background()
	if _, err := a.check(ctx, "tok1", "open-room", Subscribe, "whep", "10.0.0.9"); err != nil {
		t.Fatalf("allowed room: %v", err)
	}
	_, err := a.check(ctx, "tok1", "closed", Publish, "rtmp", "10.0.0.9")
	if StatusOf(err) != 403 || !strings.Contains(err.Error(), "not on the guest list") {
		t.Fatalf("denied room: %v, want 403 with the webhook's reason", err)
	}
	if _, err := a.check(ctx, "", "closed", Subscribe, "hls", "10.0.0.9"); StatusOf(err) != 401 {
		t.Fatalf("denied without a credential: %v, want 401", err)
	}
	want := WebhookRequest{Action: "play", Room: "open-room", Protocol: "whep", IP: "10.0.0.9", Token: "tok1"}
	if got := h.calls(); len(got) != 3 || got[0] != want || got[1].Action != "publish" || got[1].Protocol != "rtmp" {
		t.Fatalf("webhook asked %+v, want 3 calls starting with %+v", got, want)
	}
	for range 5 {
		_, _ = a.check(ctx, "tok1", "open-room", Subscribe, "whep", "10.0.0.9")
		_, _ = a.check(ctx, "tok1", "closed", Publish, "rtmp", "10.0.0.9")
	}
	if n := len(h.calls()); n != 3 {
		t.Fatalf("%d webhook calls after repeats within the TTL, want 3 (cached)", n)
	}
	if _, err := a.check(ctx, "tok2", "open-room", Subscribe, "whep", "10.0.0.9"); err != nil || len(h.calls()) != 4 {
		t.Fatalf("another credential: %v, %d calls, want allowed and asked", err, len(h.calls()))
	}
	c.add(time.Minute)
	_, _ = a.check(ctx, "tok1", "open-room", Subscribe, "whep", "10.0.0.9")
	if n := len(h.calls()); n != 5 {
		t.Fatalf("%d webhook calls after the TTL, want 5", n)
	}
	h.mu.Lock()
	h.delay, h.allow["slow"] = 2*time.Second, true
	h.mu.Unlock()
	_, err = a.check(ctx, "tok1", "slow", Subscribe, "whep", "10.0.0.9")
	if StatusOf(err) != 403 || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("slow webhook: %v, want 403 timed out", err)
	}
	logs.WaitFor(t, testkit.Context(t, 5*time.Second), "webhook timed out: denied", "room=slow")
	h.mu.Lock()
	h.delay = 0
	h.mu.Unlock()
	if _, err := a.check(ctx, "tok1", "slow", Subscribe, "whep", "10.0.0.9"); err != nil {
		t.Fatalf("the webhook answering again after a timeout: %v, want allowed (a timeout is not cached)", err)
	}
}

// TestWebhookBesideTokens: a token that allows the request is not sent to the webhook;
// one that does not is.
func TestWebhookBesideTokens(t *testing.T) {
	c := newClock()
	h := newHook(t, "guest")
	a := newTestAuthorizer(t, c, Options{Secret: []byte(testSecret), WebhookURL: h.URL})
	ctx := context.Background()
	if _, err := a.check(ctx, mint(t, c, "studio", "publish", "1h"), "studio", Publish, "whip", ""); err != nil || len(h.calls()) != 0 {
		t.Fatalf("valid token: %v, %d webhook calls, want allowed without asking", err, len(h.calls()))
	}
	if _, err := a.check(ctx, mint(t, c, "studio", "publish", "1h"), "guest", Subscribe, "whep", ""); err != nil || len(h.calls()) != 1 {
		t.Fatalf("token for another room, webhook allows: %v, %d calls", err, len(h.calls()))
	}
}
