package signaling_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/limits"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// offerer POSTs raw WHEP offers (no candidates: the sessions stay until DELETE or the ICE
// timeout) and keeps their Locations to end them.
type offerer struct {
	t     *testing.T
	offer string
}

func newOfferer(t *testing.T) *offerer {
	return &offerer{t: t, offer: testkit.PionOffer(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)}
}

// play POSTs one offer and returns the status, the error text and the Location.
func (o *offerer) play(url string) (status int, reason, location string) {
	o.t.Helper()
	resp, body := testnode.PostOffer(o.t, url, o.offer)
	if resp.StatusCode == http.StatusCreated {
		loc := resp.Header.Get("Location")
		o.t.Cleanup(func() { testnode.DeleteResource(url, loc) })
		return resp.StatusCode, "", loc
	}
	var e struct{ Error string }
	_ = json.Unmarshal([]byte(body), &e)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if resp.Header.Get("Retry-After") == "" {
			o.t.Errorf("%d without Retry-After", resp.StatusCode)
		}
	}
	return resp.StatusCode, e.Error, ""
}

func TestViewerLimitsPerRoomAndNode(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) {
		o.Limits = sfu.Limits{ViewersPerRoom: 2, Viewers: 3}
	}})
	srv.Publish(t, ctx, "a")
	srv.Publish(t, ctx, "b")
	o := newOfferer(t)
	var first string
	for i := range 2 {
		status, reason, loc := o.play(srv.WHEP("a"))
		if status != http.StatusCreated {
			t.Fatalf("viewer %d of room a: %d %s", i+1, status, reason)
		}
		first = loc
	}
	if status, reason, _ := o.play(srv.WHEP("a")); status != http.StatusServiceUnavailable || !strings.Contains(reason, "maximum of 2 viewers") {
		t.Fatalf("3rd viewer of room a: %d %q, want 503 naming the room's limit", status, reason)
	}
	if status, reason, _ := o.play(srv.WHEP("b")); status != http.StatusCreated {
		t.Fatalf("1st viewer of room b: %d %s", status, reason)
	}
	if status, reason, _ := o.play(srv.WHEP("b")); status != http.StatusServiceUnavailable || !strings.Contains(reason, "server has its maximum of 3") {
		t.Fatalf("4th viewer of the node: %d %q, want 503 naming the node's limit", status, reason)
	}
	if full, why := srv.SFU.Load().Full(); !full {
		t.Error("the node at its viewer limit does not say it is full")
	} else {
		t.Logf("full: %s", why)
	}
	testnode.DeleteResource(srv.WHEP("a"), first)
	testkit.Eventually(t, ctx, "the ended viewer's place given back", func() bool {
		status, _, _ := o.play(srv.WHEP("a"))
		return status == http.StatusCreated
	})
	if got := srv.SFU.Load().Viewers; got != 3 {
		t.Fatalf("viewer count %d after one left and one joined, want 3", got)
	}
}

func TestRoomLimitAndRoomsOnlyFromAPublish(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) { o.Limits = sfu.Limits{Rooms: 1} }})
	// Viewers, event streams and room lookups of rooms that do not exist create nothing.
	o := newOfferer(t)
	if status, _, _ := o.play(srv.WHEP("ghost")); status != http.StatusNotFound {
		t.Fatalf("WHEP of a room with no publisher: %d, want 404", status)
	}
	events := openEvents(t, ctx, srv.URL+"/api/rooms/ghost/events")
	if got := events.next(t); got != "publisher" {
		t.Fatalf("first event of a room that does not exist: %q, want publisher (not live)", got)
	}
	if _, err := srv.SFU.SubscribeLocal(ctx, "ghost", func(sfu.LocalPacket) {}); !errors.Is(err, sfu.ErrNoPublisher) {
		t.Fatalf("the LL-HLS bridge's subscription to an absent room: %v, want ErrNoPublisher", err)
	}
	if rooms := srv.SFU.Rooms(); len(rooms) != 0 {
		t.Fatalf("rooms after WHEP, an event stream and a local subscription of absent rooms: %+v, want none", rooms)
	}
	pub := srv.Publish(t, ctx, "ghost") // the watcher waited for this publisher
	testkit.Eventually(t, ctx, "the waiting watcher told the room is live", func() bool {
		return events.next(t) == "publisher" && events.lastLive
	})
	p2, err := testnode.TryPublisher(ctx, srv.WHIP("other"), client.Options{})
	if err == nil {
		p2.Session.Close(ctx)
		t.Fatal("a publish into a 2nd room with a limit of 1 room succeeded")
	}
	if !strings.Contains(err.Error(), "503") {
		t.Fatalf("2nd room: %v, want a 503", err)
	}
	events.close()
	if err := pub.Session.Close(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, ctx, "the room dropped", func() bool { return len(srv.SFU.Rooms()) == 0 })
	srv.Publish(t, ctx, "other") // the room's place is free again
}

func TestSessionsAndEventStreamsPerIP(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{Signaling: func(o *signaling.Options) {
		o.Admission = signaling.Admission{
			Sessions: limits.NewCounter("sessions_per_ip", "WHIP/WHEP sessions", 2, 0),
			Watchers: limits.NewCounter("event_watchers", "event streams", 2, 0),
		}
	}})
	srv.Publish(t, ctx, "r") // the publisher holds one of the address's 2 sessions
	o := newOfferer(t)
	status, reason, loc := o.play(srv.WHEP("r"))
	if status != http.StatusCreated {
		t.Fatalf("2nd session of 127.0.0.1: %d %s", status, reason)
	}
	if status, reason, _ := o.play(srv.WHEP("r")); status != http.StatusTooManyRequests || !strings.Contains(reason, "at most 2") {
		t.Fatalf("3rd session of 127.0.0.1: %d %q, want 429", status, reason)
	}
	testnode.DeleteResource(srv.WHEP("r"), loc)
	testkit.Eventually(t, ctx, "the ended session's count released", func() bool {
		status, _, _ := o.play(srv.WHEP("r"))
		return status == http.StatusCreated
	})

	a := openEvents(t, ctx, srv.URL+"/api/rooms/r/events")
	b := openEvents(t, ctx, srv.URL+"/api/rooms/x/events")
	resp, err := http.Get(srv.URL + "/api/rooms/r/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("3rd event stream of one address: %d, want 429", resp.StatusCode)
	}
	a.close()
	testkit.Eventually(t, ctx, "a closed event stream's place given back", func() bool {
		resp, err := http.Get(srv.URL + "/api/rooms/r/events")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	b.close()
}

// eventStream reads a room's SSE stream.
type eventStream struct {
	resp     *http.Response
	lines    *bufio.Scanner
	cancel   context.CancelFunc
	lastLive bool
}

func openEvents(t *testing.T, ctx context.Context, url string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	e := &eventStream{resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}
	t.Cleanup(e.close)
	return e
}

// next returns the type of the next event (pings skipped), noting whether a publisher
// event said live.
func (e *eventStream) next(t *testing.T) string {
	t.Helper()
	var typ string
	for e.lines.Scan() {
		line := e.lines.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			typ = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && typ == "publisher" {
			e.lastLive = strings.Contains(v, `"live":true`)
		}
		if line == "" && typ != "" {
			return typ
		}
	}
	t.Fatalf("event stream ended: %v", e.lines.Err())
	return ""
}

// waitFor returns the data of the next event of type kind (the test's context bounds the
// wait).
func (e *eventStream) waitFor(t *testing.T, kind string) string {
	t.Helper()
	var typ string
	for e.lines.Scan() {
		line := e.lines.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			typ = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && typ == kind {
			return v
		}
	}
	t.Fatalf("event stream ended before a %q event: %v", kind, e.lines.Err())
	return ""
}

func (e *eventStream) close() {
	e.cancel()
	e.resp.Body.Close()
}
