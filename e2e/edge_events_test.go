package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// edgeEvents follows a room's event stream (GET /api/rooms/{room}/events, Server-Sent
// Events) through an edge, noting when each line arrived.
type edgeEvents struct {
	opened time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	lines []eventLine
	err   error // why the stream ended, if it did
}

type eventLine struct {
	at   time.Duration // since opened
	text string
}

// followEdgeEvents opens room's event stream at edge; the stream is closed when the test ends.
func followEdgeEvents(t *testing.T, kind, edge, room string) *edgeEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &edgeEvents{opened: time.Now(), cancel: cancel, done: make(chan struct{})}
	t.Cleanup(e.close)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, edge+"/api/rooms/"+room+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s: room events: %v", kind, err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		_ = resp.Body.Close()
		t.Fatalf("%s: room events: %d %q, want 200 text/event-stream", kind, resp.StatusCode, ct)
	}
	go func() {
		defer close(e.done)
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			e.mu.Lock()
			e.lines = append(e.lines, eventLine{at: time.Since(e.opened), text: sc.Text()})
			e.mu.Unlock()
		}
		e.mu.Lock()
		e.err = sc.Err()
		if e.err == nil {
			e.err = io.EOF // the edge or Glint ended the stream
		}
		e.mu.Unlock()
	}()
	return e
}

func (e *edgeEvents) close() {
	e.cancel()
	<-e.done
}

// check, once the stream has been open longer than Glint's 15 s ping: the room's state
// came through the edge within 3 s of opening (not buffered), a ping came later (the edge
// keeps a quiet stream open and passes what Glint writes), and the stream is still open.
func (e *edgeEvents) check(t *testing.T, kind string) {
	t.Helper()
	if open := time.Since(e.opened); open < 16*time.Second {
		t.Fatalf("%s: room events checked after %v, want > 16 s (Glint pings every 15 s)", kind, open)
	}
	e.mu.Lock()
	lines, ended := append([]eventLine(nil), e.lines...), e.err
	e.mu.Unlock()
	state, ping := time.Duration(-1), time.Duration(-1)
	for i, l := range lines {
		if l.text == "event: publisher" && i+1 < len(lines) && strings.Contains(lines[i+1].text, `"live":true`) && state < 0 {
			state = lines[i+1].at
		}
		if strings.HasPrefix(l.text, ": ping") && ping < 0 {
			ping = l.at
		}
	}
	t.Logf("%s: room events: publisher live after %s, first ping after %s, %d lines", kind,
		sinceOpened(state), sinceOpened(ping), len(lines))
	if state < 0 || state > 3*time.Second {
		t.Errorf("%s: room events: the publisher's live state came after %s, want within 3 s; lines: %v",
			kind, sinceOpened(state), lines)
	}
	if ping < 0 {
		t.Errorf("%s: room events: no ping in %v; lines: %v", kind, time.Since(e.opened).Round(time.Second), lines)
	}
	if ended != nil {
		t.Errorf("%s: room events: the stream ended (%v) while the page would still follow it", kind, ended)
	}
}

// sinceOpened formats a time since the stream opened; negative: it never came.
func sinceOpened(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}
