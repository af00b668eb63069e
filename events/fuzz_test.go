package events

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/config"
)

// FuzzClientMessage: any client message is answered, ignored or refused with a close code,
// never a panic.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{`{"kind":"ping","t0":1.5}`, `{"kind":"delay","delay_ms":400,"rtt_ms":12}`,
		`{"kind":"ping"}`, `{"kind":"delay","delay_ms":-1}`, `{}`, `[]`, `{"kind":"x","t0":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSubscriber("id", "room", func(int, string) {})
		reply, err := s.handle(data, time.Now(), time.Now)
		if err == nil && reply != nil && !json.Valid(reply) {
			t.Fatalf("reply %q is not JSON", reply)
		}
		if pe, ok := err.(*protocolError); err != nil && (!ok || pe.code < 1000 || len(pe.reason) > 123) {
			t.Fatalf("error %v: want a protocolError with a close code and a reason that fits a close frame", err)
		}
	})
}

// FuzzPostEvent: any body to POST /api/rooms/{room}/events gets 201, 400 or 409, never a
// panic or a 5xx.
func FuzzPostEvent(f *testing.F) {
	now := time.Now()
	for _, s := range []string{`{"type":"message","payload":{"a":1}}`, `{"type":"countdown","at":"2026-01-02T03:04:05Z"}`,
		`{"type":"message","at":1767322800000,"close_in_ms":100}`, `{"type":"bets-closed","closes":"x"}`, `{"type":1}`, `nul`} {
		f.Add(s)
	}
	h := New(Options{Settings: config.Defaults().Events, Now: func() time.Time { return now }})
	h.opts.Settings.EventRate, h.opts.Settings.EventBurst = 1e9, 1e9
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/api/rooms/r/events", strings.NewReader(body))
		req.SetPathValue("room", "r")
		w := httptest.NewRecorder()
		h.handlePostEvent(w, req)
		if c := w.Code; c != http.StatusCreated && c != http.StatusBadRequest && c != http.StatusConflict && c != http.StatusTooManyRequests {
			t.Fatalf("status %d for %q: %s", c, body, w.Body)
		}
	})
}
