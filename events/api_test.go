package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// post sends a JSON body and returns the status, body and response.
func post(t *testing.T, url, token, body string) (int, string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if resp.StatusCode >= 400 && json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error, resp
	}
	return resp.StatusCode, string(b), resp
}

func TestPostEventStampsTheFrameOnAir(t *testing.T) {
	ts := newTestServer(t, nil)
	onAir := time.Now().Add(-80 * time.Millisecond).Truncate(time.Millisecond)
	ts.media.onAir = onAir
	c := ts.dial(t, "show")
	status, body, _ := post(t, ts.url+"/api/rooms/show/events", "", `{"type":"bets-open","payload":{"market":"next goal"}}`)
	if status != http.StatusCreated {
		t.Fatalf("post: %d %s", status, body)
	}
	var got eventMessage
	_ = json.Unmarshal(c.next("event"), &got)
	e := got.Event
	if e.CaptureMs != onAir.UnixMilli() || e.Type != "bets-open" || string(e.Payload) != `{"market":"next goal"}` {
		t.Fatalf("event %+v: want capture %d (the frame on air) and the payload", e, onAir.UnixMilli())
	}
	if len(ts.media.marked) != 1 || ts.media.marked[0].ID != e.ID {
		t.Fatalf("marked %+v: want the event placed in the media", ts.media.marked)
	}

	// A given capture time, RFC 3339 or unix ms, wins over the frame on air.
	at := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
	for _, atJSON := range []string{`"` + at.Format(time.RFC3339Nano) + `"`, jsonNumber(at.UnixMilli())} {
		status, body, _ = post(t, ts.url+"/api/rooms/show/events", "", `{"type":"message","payload":"hi","at":`+atJSON+`,"close_in_ms":500}`)
		var e Event
		_ = json.Unmarshal([]byte(body), &e)
		if status != http.StatusCreated || e.CaptureMs != at.UnixMilli() || e.CloseMs != at.UnixMilli()+500 {
			t.Fatalf("at %s: %d %s; want capture %d and close 500 ms later", atJSON, status, body, at.UnixMilli())
		}
	}

	// A late joiner gets the recent events first.
	late := ts.dial(t, "show")
	_ = json.Unmarshal(late.next("event"), &got)
	if got.Event.ID != e.ID {
		t.Fatalf("late joiner's first event %+v, want %s", got.Event, e.ID)
	}

	// No frame on air and no `at`: the server cannot stamp it.
	ts.media.onAir = time.Time{}
	if status, body, _ := post(t, ts.url+"/api/rooms/show/events", "", `{"type":"message"}`); status != http.StatusConflict {
		t.Fatalf("no frame on air: %d %s, want 409", status, body)
	}
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestPostEventBadInput(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.Authorize = func(r *http.Request, room string) error {
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				return errors.New("bearer token required")
			}
			return nil
		}
	})
	ts.media.onAir = time.Now()
	url := ts.url + "/api/rooms/show/events"
	for _, tt := range []struct {
		name, token, body string
		status            int
		reason            string
	}{
		{"no token", "", `{"type":"message"}`, http.StatusUnauthorized, "unauthorized"},
		{"wrong token", "nope", `{"type":"message"}`, http.StatusUnauthorized, "unauthorized"},
		{"unknown type", "s3cret", `{"type":"goal"}`, http.StatusBadRequest, `unknown event type "goal"`},
		{"payload over 4 KiB", "s3cret", `{"type":"message","payload":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`, http.StatusBadRequest, "over the 4096-byte limit"},
		{"body far over", "s3cret", `{"type":"message","payload":"` + strings.Repeat("x", 4*MaxPayloadBytes) + `"}`, http.StatusBadRequest, "body over"},
		{"unknown field", "s3cret", `{"type":"message","colour":"red"}`, http.StatusBadRequest, "unknown field"},
		{"bad at", "s3cret", `{"type":"message","at":"yesterday"}`, http.StatusBadRequest, "RFC 3339"},
		{"at far past", "s3cret", `{"type":"message","at":` + jsonNumber(time.Now().Add(-2*time.Hour).UnixMilli()) + `}`, http.StatusBadRequest, "within 1h before"},
		{"close before capture", "s3cret", `{"type":"message","close_in_ms":-5}`, http.StatusBadRequest, "close instant"},
		{"closes unknown", "s3cret", `{"type":"bets-closed","closes":"nope"}`, http.StatusBadRequest, "no open event"},
		{"bad room", "s3cret", `{"type":"message"}`, http.StatusBadRequest, "invalid room name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := url
			if tt.name == "bad room" {
				u = ts.url + "/api/rooms/no%20room/events"
			}
			status, body, _ := post(t, u, tt.token, tt.body)
			if status != tt.status || !strings.Contains(body, tt.reason) {
				t.Fatalf("%d %q, want %d with %q", status, body, tt.status, tt.reason)
			}
		})
	}
}

func TestPostEventRateLimit(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Settings.EventRate, o.Settings.EventBurst = 0.5, 3 })
	ts.media.onAir = time.Now()
	for i := range 3 {
		if status, body, _ := post(t, ts.url+"/api/rooms/show/events", "", `{"type":"message"}`); status != http.StatusCreated {
			t.Fatalf("event %d within the burst: %d %s", i, status, body)
		}
	}
	status, body, resp := post(t, ts.url+"/api/rooms/show/events", "", `{"type":"message"}`)
	if status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "event rate") {
		t.Fatalf("over the burst: %d %q Retry-After %q, want 429 with Retry-After", status, body, resp.Header.Get("Retry-After"))
	}
	if status, _, _ := post(t, ts.url+"/api/rooms/other/events", "", `{"type":"message"}`); status != http.StatusCreated {
		t.Fatalf("another room is limited too: %d", status)
	}
}

func TestTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newTokenBucket(2, 2, now)
	for i := range 2 {
		if ok, _ := b.take(now); !ok {
			t.Fatalf("take %d refused within the burst", i)
		}
	}
	ok, wait := b.take(now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("take over the burst: %v wait %v, want refused for 500ms", ok, wait)
	}
	if ok, _ := b.take(now.Add(500 * time.Millisecond)); !ok {
		t.Fatal("no token after 1/rate")
	}
}

func TestListEvents(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.media.onAir = time.Now()
	post(t, ts.url+"/api/rooms/show/events", "", `{"type":"countdown","payload":{"seconds":10}}`)
	resp, err := http.Get(ts.url + "/api/rooms/show/timed-events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []Event
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list) != 1 || list[0].Type != "countdown" {
		t.Fatalf("list %+v (%v), want the countdown", list, err)
	}
	if !bytes.Contains(list[0].Payload, []byte(`"seconds":10`)) {
		t.Fatalf("payload %s", list[0].Payload)
	}
}
