package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestServeEvents: `glint serve` serves the event channel: the WebSocket says hello, and a
// timed event for a room with a token needs it (auth: publish), then reaches the socket, which
// needs it too (subscribe, as ?token= since browsers cannot set headers on a WebSocket).
func TestServeEvents(t *testing.T) {
	base := startServe(t, "--room-token", "quiz=s3cret")
	addr := strings.TrimPrefix(base, "http://")
	var conn *websocket.Conn
	for deadline := time.Now().Add(10 * time.Second); conn == nil; time.Sleep(50 * time.Millisecond) {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/rooms/quiz?token=s3cret", nil)
		if err == nil {
			conn = c
		} else if time.Now().After(deadline) {
			t.Fatalf("dial the event socket: %v", err)
		}
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func(kind string) string {
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", kind, err)
			}
			if strings.Contains(string(msg), `"kind":"`+kind+`"`) {
				return string(msg)
			}
		}
	}
	read("hello")
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/rooms/quiz/events", strings.NewReader(`{"type":"message","payload":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Errorf("event without the room token: %d, want 401", code)
	}
	if code := post("s3cret"); code != http.StatusCreated {
		t.Fatalf("event with the room token: %d, want 201", code)
	}
	if msg := read("event"); !strings.Contains(msg, `"payload":"hi"`) {
		t.Errorf("event message %s", msg)
	}
}
