package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestEventsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/whip/demo":       "http://127.0.0.1:8080/api/rooms/demo/events",
		"https://example.com/glint/whip/studio": "https://example.com/glint/api/rooms/studio/events",
	} {
		if got, err := eventsURL(in); err != nil || got != want {
			t.Errorf("eventsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://x/whep/demo", "http://x/whip/", "http://x/whip/a/b"} {
		if _, err := eventsURL(bad); err == nil {
			t.Errorf("eventsURL(%q) accepted", bad)
		}
	}
}

func TestCountdownPostsEvents(t *testing.T) {
	got := make(chan map[string]any, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.URL.Path != "/api/rooms/demo/events" || r.Header.Get("Authorization") != "Bearer tok" ||
			json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got <- body
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runCountdown(ctx, Options{WHIPURL: srv.URL + "/whip/demo", Token: "tok", CountdownEvery: 50 * time.Millisecond},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	for range 2 {
		select {
		case b := <-got:
			if b["type"] != "countdown" || b["close_in_ms"] != float64(50) {
				t.Fatalf("posted %v", b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no countdown event posted")
		}
	}
	cancel()
	<-done
}
