package events

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/sfu"
)

// fakeRooms is a RoomWatcher whose events the test sends.
type fakeRooms struct {
	mu  sync.Mutex
	chs []chan sfu.Event
}

func (f *fakeRooms) Watch(string) (<-chan sfu.Event, func(), error) {
	ch := make(chan sfu.Event, 16)
	ch <- sfu.Event{Type: "publisher", Data: map[string]any{"live": true}}
	f.mu.Lock()
	f.chs = append(f.chs, ch)
	f.mu.Unlock()
	return ch, func() {}, nil
}

func (f *fakeRooms) emit(e sfu.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.chs {
		ch <- e
	}
}

// fakeMedia is the OnAir and MediaMarker of a test: a fixed frame on air, events recorded.
type fakeMedia struct {
	mu     sync.Mutex
	onAir  time.Time
	marked []Event
}

func (f *fakeMedia) OnAir(string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.onAir, !f.onAir.IsZero()
}

func (f *fakeMedia) Mark(_ string, e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marked = append(f.marked, e)
}

type testServer struct {
	hub   *Hub
	url   string
	rooms *fakeRooms
	media *fakeMedia
}

// newTestServer runs a Hub on httptest; tweak adjusts its options.
func newTestServer(t *testing.T, tweak func(*Options)) *testServer {
	t.Helper()
	log, _ := testkit.NewLogger(t)
	ts := &testServer{rooms: &fakeRooms{}, media: &fakeMedia{}}
	opts := Options{Settings: config.Defaults().Events, Rooms: ts.rooms, OnAir: ts.media, Marker: ts.media, Logger: log}
	if tweak != nil {
		tweak(&opts)
	}
	ts.hub = New(opts)
	mux := http.NewServeMux()
	ts.hub.Register(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ts.hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	ts.url = srv.URL
	return ts
}

// wsClient is a gorilla client of the protocol.
type wsClient struct {
	t     *testing.T
	conn  *websocket.Conn
	hello helloMessage
}

func (ts *testServer) dial(t *testing.T, room string) *wsClient {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.url, "http")+"/ws/rooms/"+room, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &wsClient{t: t, conn: conn}
	if err := json.Unmarshal(c.next("hello"), &c.hello); err != nil {
		t.Fatal(err)
	}
	return c
}

// next returns the next message of kind, skipping others.
func (c *wsClient) next(kind string) []byte {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", kind, err)
		}
		var m struct{ Kind string }
		if err := json.Unmarshal(data, &m); err != nil {
			c.t.Fatalf("bad message %s: %v", data, err)
		}
		if m.Kind == kind {
			return data
		}
	}
}

func (c *wsClient) sendJSON(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// clockOffset runs n NTP-style exchanges and returns the offset (server − client) of the
// one with the smallest round trip, as events.js does.
func (c *wsClient) clockOffset(n int) (offset, rtt float64) {
	rtt = math.Inf(1)
	for range n {
		t0 := unixMs(time.Now())
		c.sendJSON(map[string]any{"kind": "ping", "t0": t0})
		var p pongMessage
		if err := json.Unmarshal(c.next("pong"), &p); err != nil {
			c.t.Fatal(err)
		}
		t3 := unixMs(time.Now())
		if p.T0 != t0 {
			c.t.Fatalf("pong t0 %v, sent %v", p.T0, t0)
		}
		if r := (t3 - t0) - (p.T2 - p.T1); r < rtt {
			rtt, offset = r, ((p.T1-t0)+(p.T2-t3))/2
		}
	}
	return offset, rtt
}

func TestClockOffsetAgainstSkewedServer(t *testing.T) {
	const skew = 3217 * time.Millisecond
	ts := newTestServer(t, func(o *Options) { o.Now = func() time.Time { return time.Now().Add(skew) } })
	c := ts.dial(t, "room1")
	if math.Abs(c.hello.ServerMs-unixMs(time.Now().Add(skew))) > 1000 {
		t.Fatalf("hello server_ms %v is not the server's clock", c.hello.ServerMs)
	}
	offset, rtt := c.clockOffset(20)
	errMs := offset - float64(skew.Microseconds())/1000
	t.Logf("clock offset %.3f ms (true %d ms), error %.3f ms, min rtt %.3f ms", offset, skew.Milliseconds(), errMs, rtt)
	if math.Abs(errMs) > 5 {
		t.Fatalf("clock offset error %.3f ms, want within 5 ms", errMs)
	}
}

func TestWebSocketRoomEventsAndHello(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.Targets = func(string) Targets { return Targets{Sync: true, HLS: 1200 * time.Millisecond} }
	})
	c := ts.dial(t, "quiz")
	if !c.hello.Sync || c.hello.TargetMs != DefaultWebRTCTarget.Milliseconds() || c.hello.HLSTargetMs != 1200 || c.hello.ID == "" {
		t.Fatalf("hello %+v: want a sync room with targets 400/1200 ms and an id", c.hello)
	}
	var first roomMessage
	_ = json.Unmarshal(c.next("room"), &first)
	if first.Type != "publisher" {
		t.Fatalf("first room message %+v, want the publisher state", first)
	}
	ts.rooms.emit(sfu.Event{Type: "viewers", Data: map[string]any{"viewers": 3}})
	var m struct {
		Type string
		Data struct{ Viewers int }
	}
	_ = json.Unmarshal(c.next("room"), &m)
	if m.Type != "viewers" || m.Data.Viewers != 3 {
		t.Fatalf("room message %+v, want viewers 3", m)
	}
}

func TestWebSocketBadInputCloses(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tt := range []struct {
		name   string
		typ    int
		msg    string
		code   int
		reason string
	}{
		{"too big", websocket.TextMessage, `{"kind":"ping","t0":1,"pad":"` + strings.Repeat("x", MaxMessageBytes) + `"}`, closeTooBig, "larger than 4096"},
		{"not JSON", websocket.TextMessage, `hello`, closeInvalidData, "not a JSON message"},
		{"unknown kind", websocket.TextMessage, `{"kind":"bet"}`, closeUnsupported, "unknown message kind"},
		{"binary", websocket.BinaryMessage, `{"kind":"ping","t0":1}`, closeUnsupported, "binary"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t, "room1")
			if err := c.conn.WriteMessage(tt.typ, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				_, _, err := c.conn.ReadMessage()
				if err == nil {
					continue
				}
				ce, ok := err.(*websocket.CloseError)
				if !ok || ce.Code != tt.code || !strings.Contains(ce.Text, tt.reason) {
					t.Fatalf("closed with %v, want code %d and reason containing %q", err, tt.code, tt.reason)
				}
				return
			}
		})
	}
}

func TestWebSocketSocketsPerRoomBounded(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Settings.EventSockets = 2 })
	ts.dial(t, "small")
	ts.dial(t, "small")
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.url, "http")+"/ws/rooms/small", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third socket: err %v, resp %v; want 503", err, resp)
	}
	ts.dial(t, "other") // another room is not affected
}

func TestSlowReaderIsClosedWithoutBlockingTheRoom(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	ts := newTestServer(t, nil)
	ts.dial(t, "busy") // never reads again
	fast := ts.dial(t, "busy")
	big := strings.Repeat("x", MaxPayloadBytes-10)
	// Fill the slow socket's TCP buffers and its queue, in batches the fast one reads: the
	// room goes on, the fast socket gets everything, the slow one is dropped.
	const batch, batches = 64, 3 * sendQueue / 64 * 4
	for b := range batches {
		for i := range batch {
			ts.hub.publish("busy", Event{ID: "e", Type: "message", CaptureMs: int64(b*batch + i), Payload: json.RawMessage(`"` + big + `"`)})
		}
		for range batch {
			fast.next("event")
		}
	}
	testkit.Eventually(t, ctx, "the slow socket to be dropped", func() bool {
		ts.hub.mu.Lock()
		defer ts.hub.mu.Unlock()
		return len(ts.hub.rooms["busy"].subs) == 1
	})
}
