package dvr

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClipQueueIsBounded: with every place of the clip MP4 queue taken, a clip request is
// answered 503 with Retry-After at once (no job, no Hold); once a place is free and the
// jobs have finished, clips are made again and their places given back.
func TestClipQueueIsBounded(t *testing.T) {
	f := newFixture(t)
	for range cap(f.h.queued) {
		f.h.queued <- struct{}{} // jobs waiting for a worker
	}
	code, reason := do(t, f, "POST", "/api/rooms/room1/clips", `{"last": 10}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(reason, "clips are being made") {
		t.Fatalf("clip with the queue full: %d %q, want 503", code, reason)
	}
	for range cap(f.h.queued) {
		<-f.h.queued
	}
	c := postClip(t, f, `{"last": 10}`, http.StatusCreated)
	deadline := time.Now().Add(20 * time.Second)
	for len(f.h.queued) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("clip %s's MP4 job kept its queue place", c.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
