package events

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestActionsJudgedByWhatTheViewerSaw(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond) // the server's clock stands still: exact instants
	ts := newTestServer(t, func(o *Options) { o.Now = func() time.Time { return now } })
	nowMs := now.UnixMilli()
	viewer := ts.dial(t, "auction")
	viewer.sendJSON(map[string]any{"kind": "delay", "delay_ms": 400, "rtt_ms": 20})
	viewer.clockOffset(1) // the delay message is handled before the ping is answered

	postEvent := func(body string) Event {
		t.Helper()
		status, resp, _ := post(t, ts.url+"/api/rooms/auction/events", "", body)
		if status != http.StatusCreated {
			t.Fatalf("post event: %d %s", status, resp)
		}
		var e Event
		_ = json.Unmarshal([]byte(resp), &e)
		return e
	}
	open := postEvent(fmt.Sprintf(`{"type":"bets-open","at":%d}`, nowMs-5000))
	// The closing frame: 30 ms after what this viewer (400 ms behind) has on screen now.
	closeAt := nowMs - 400 + 30
	postEvent(fmt.Sprintf(`{"type":"bets-closed","at":%d,"closes":%q}`, closeAt, open.ID))

	act := func(seen int64, socket string) (int, string) {
		t.Helper()
		status, body, _ := post(t, ts.url+"/api/rooms/auction/actions", "",
			fmt.Sprintf(`{"event":%q,"socket":%q,"payload":{"bid":100},"seen_capture_ms":%d}`, open.ID, socket, seen))
		return status, body
	}
	for _, tt := range []struct {
		name   string
		seen   int64
		status int
		reason string
	}{
		{"just before close accepted", closeAt - 10, http.StatusAccepted, `"margin_ms":10`},
		{"just after close refused", closeAt + 1, http.StatusConflict, "too late"},
		{"forged early refused", nowMs - 1000, http.StatusBadRequest, "forged"},
		{"later than the screen refused", nowMs - 100, http.StatusBadRequest, "after what this viewer's screen shows"},
		{"future refused", nowMs + 50, http.StatusBadRequest, "in the future"},
		{"far past refused", nowMs - 40000, http.StatusBadRequest, "in the past"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := act(tt.seen, viewer.hello.ID)
			if status != tt.status || !strings.Contains(body, tt.reason) {
				t.Fatalf("seen %+d ms from now: %d %q, want %d with %q", tt.seen-nowMs, status, body, tt.status, tt.reason)
			}
		})
	}

	if status, body := act(closeAt-10, "nobody"); status != http.StatusBadRequest || !strings.Contains(body, "not connected") {
		t.Fatalf("unknown socket: %d %q", status, body)
	}
	silent := ts.dial(t, "auction")
	if status, body := act(closeAt-10, silent.hello.ID); status != http.StatusBadRequest || !strings.Contains(body, "not reported its delay") {
		t.Fatalf("socket without a delay: %d %q", status, body)
	}

	resp, err := http.Get(ts.url + "/api/rooms/auction/timed-events/" + open.ID + "/actions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var actions []Action
	if err := json.NewDecoder(resp.Body).Decode(&actions); err != nil || len(actions) != 1 || actions[0].SeenCaptureMs != float64(closeAt-10) {
		t.Fatalf("recorded actions %+v (%v), want the one accepted", actions, err)
	}
}

func TestActionTooEarlyForItsEvent(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond)
	ts := newTestServer(t, func(o *Options) { o.Now = func() time.Time { return now } })
	viewer := ts.dial(t, "auction")
	viewer.sendJSON(map[string]any{"kind": "delay", "delay_ms": 400})
	viewer.clockOffset(1)
	// The event's frame is not yet on this viewer's screen (it is 400 ms behind).
	_, body, _ := post(t, ts.url+"/api/rooms/auction/events", "", fmt.Sprintf(`{"type":"bets-open","at":%d}`, now.UnixMilli()-200))
	var e Event
	_ = json.Unmarshal([]byte(body), &e)
	status, body, _ := post(t, ts.url+"/api/rooms/auction/actions", "",
		fmt.Sprintf(`{"event":%q,"socket":%q,"seen_capture_ms":%d}`, e.ID, viewer.hello.ID, now.UnixMilli()-400))
	if status != http.StatusConflict || !strings.Contains(body, "too early") {
		t.Fatalf("%d %q, want 409 too early", status, body)
	}
}

func TestActionRatePerSocket(t *testing.T) {
	ts := newTestServer(t, nil)
	viewer := ts.dial(t, "auction")
	var last int
	for range actionBurst + 1 {
		last, _, _ = post(t, ts.url+"/api/rooms/auction/actions", "",
			fmt.Sprintf(`{"event":"none","socket":%q,"seen_capture_ms":%d}`, viewer.hello.ID, time.Now().UnixMilli()))
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("action %d of a burst of %d: %d, want 429", actionBurst+1, actionBurst, last)
	}
}
