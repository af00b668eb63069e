package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glint-video/glint/sfu"
)

// Messages are JSON objects with a "kind" (docs/events.md).
//
// Client → server:
//
//	{"kind":"ping","t0":<client ms>}                       clock sample request
//	{"kind":"delay","delay_ms":<ms>,"rtt_ms":<ms>}         the viewer's capture → screen delay
//
// Server → client:
//
//	{"kind":"hello","id":…,"room":…,"server_ms":…,"sync":…,"target_ms":…,"hls_target_ms":…}
//	{"kind":"pong","t0":…,"t1":…,"t2":…}                   t1: receipt, t2: send, server ms
//	{"kind":"room","type":"publisher"|"viewers","data":{…}} the SFU's room events (as SSE)
//	{"kind":"event","event":{…}}                          a timed event (Event)
//	{"kind":"error","error":…}                            a message the server could not use

// MaxMessageBytes bounds one client message; a larger one closes the socket with 1009.
const MaxMessageBytes = 4096

// sendQueue is how many messages wait for a slow subscriber before it is dropped.
const sendQueue = 256

// Close codes (RFC 6455 §7.4.1).
const (
	closeGoingAway   = 1001
	closeUnsupported = 1003
	closeInvalidData = 1007
	closePolicy      = 1008
	closeTooBig      = 1009
)

type helloMessage struct {
	Kind        string  `json:"kind"`
	ID          string  `json:"id"`
	Room        string  `json:"room"`
	ServerMs    float64 `json:"server_ms"`
	Sync        bool    `json:"sync"`
	TargetMs    int64   `json:"target_ms,omitempty"`
	HLSTargetMs int64   `json:"hls_target_ms,omitempty"`
}

type pongMessage struct {
	Kind string  `json:"kind"`
	T0   float64 `json:"t0"`
	T1   float64 `json:"t1"`
	T2   float64 `json:"t2"`
}

type roomMessage struct {
	Kind string `json:"kind"`
	Type string `json:"type"`
	Data any    `json:"data"`
}

type eventMessage struct {
	Kind  string `json:"kind"`
	Event Event  `json:"event"`
}

type errorMessage struct {
	Kind  string `json:"kind"`
	Error string `json:"error"`
}

// clientMessage is any client message; the fields that apply to its kind are set.
type clientMessage struct {
	Kind    string   `json:"kind"`
	T0      *float64 `json:"t0"`
	DelayMs *float64 `json:"delay_ms"`
	RTTMs   *float64 `json:"rtt_ms"`
}

// protocolError is a client message the server closes the channel for.
type protocolError struct {
	code   int
	reason string
}

func (e *protocolError) Error() string { return fmt.Sprintf("%d %s", e.code, e.reason) }

// maxReportedDelay bounds a viewer's reported delay: more is not a live viewer.
const maxReportedDelay = 60 * time.Second

// subscriber is one page's channel (a WebSocket or a data channel) in a room.
type subscriber struct {
	id    string
	room  string
	queue chan []byte
	done  chan struct{}
	// closeTransport ends the transport with a close code and reason; called once.
	closeTransport func(code int, reason string)
	closeOnce      sync.Once

	delayUs atomic.Int64 // the viewer's reported capture → screen delay, -1: none yet
	rttUs   atomic.Int64

	actionsMu sync.Mutex
	actions   tokenBucket // the viewer's actions (actionRate, actionBurst)
}

// A viewer may send actionRate actions per second, actionBurst at once.
const (
	actionRate  = 5
	actionBurst = 10
)

func newSubscriber(id, room string, closeTransport func(code int, reason string)) *subscriber {
	s := &subscriber{id: id, room: room, queue: make(chan []byte, sendQueue), done: make(chan struct{}),
		closeTransport: closeTransport, actions: newTokenBucket(actionRate, actionBurst, time.Now())}
	s.delayUs.Store(-1)
	return s
}

// send queues msg; a subscriber whose queue is full reads too slowly and is closed, so that
// it never holds up the room.
func (s *subscriber) send(msg []byte) {
	select {
	case <-s.done:
	case s.queue <- msg:
	default:
		s.close(closePolicy, "send queue full: reading too slowly")
	}
}

func (s *subscriber) close(code int, reason string) {
	s.closeOnce.Do(func() {
		close(s.done)
		s.closeTransport(code, reason)
	})
}

// takeAction uses one of the viewer's action tokens, or says how long until there is one.
func (s *subscriber) takeAction(now time.Time) (bool, time.Duration) {
	s.actionsMu.Lock()
	defer s.actionsMu.Unlock()
	return s.actions.take(now)
}

// delay returns the viewer's reported delay and round-trip time.
func (s *subscriber) delay() (delay, rtt time.Duration, ok bool) {
	d := s.delayUs.Load()
	return time.Duration(d) * time.Microsecond, time.Duration(s.rttUs.Load()) * time.Microsecond, d >= 0
}

// handle answers one client message received at (server clock); it returns the reply (nil:
// none) or a protocolError for which the channel is closed.
func (s *subscriber) handle(data []byte, at time.Time, now func() time.Time) ([]byte, error) {
	var m clientMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, &protocolError{closeInvalidData, "not a JSON message: " + shorten(err.Error())}
	}
	switch m.Kind {
	case "ping":
		if m.T0 == nil || !finite(*m.T0) {
			return mustMarshal(errorMessage{"error", "ping needs a numeric t0"}), nil
		}
		return mustMarshal(pongMessage{Kind: "pong", T0: *m.T0, T1: unixMs(at), T2: unixMs(now())}), nil
	case "delay":
		if m.DelayMs == nil || !finite(*m.DelayMs) || *m.DelayMs < 0 || *m.DelayMs > float64(maxReportedDelay/time.Millisecond) {
			return mustMarshal(errorMessage{"error", "delay needs delay_ms between 0 and 60000"}), nil
		}
		rtt := 0.0
		if m.RTTMs != nil && finite(*m.RTTMs) {
			rtt = min(max(*m.RTTMs, 0), 10000)
		}
		s.delayUs.Store(int64(*m.DelayMs * 1000))
		s.rttUs.Store(int64(rtt * 1000))
		return nil, nil
	default:
		return nil, &protocolError{closeUnsupported, fmt.Sprintf("unknown message kind %.40q", m.Kind)}
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// unixMs is t in unix milliseconds with microsecond resolution.
func unixMs(t time.Time) float64 { return float64(t.UnixMicro()) / 1000 }

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

// hello is the first message of a channel.
func (h *Hub) hello(s *subscriber) []byte {
	t := h.opts.Targets(s.room)
	m := helloMessage{Kind: "hello", ID: s.id, Room: s.room, ServerMs: unixMs(h.now()), Sync: t.Sync}
	if t.Sync {
		m.TargetMs, m.HLSTargetMs = t.WebRTC.Milliseconds(), t.HLS.Milliseconds()
		if m.TargetMs <= 0 {
			m.TargetMs = DefaultWebRTCTarget.Milliseconds()
		}
		if m.HLSTargetMs <= 0 {
			m.HLSTargetMs = DefaultHLSTarget.Milliseconds()
		}
	}
	return mustMarshal(m)
}

// start attaches s to its room and queues its first messages (hello, the replayed events);
// the room's SFU events are forwarded until s closes. The caller runs s's writer.
func (h *Hub) start(s *subscriber) error {
	replay, err := h.attach(s)
	if err != nil {
		return err
	}
	s.send(h.hello(s))
	for _, e := range replay {
		s.send(mustMarshal(eventMessage{Kind: "event", Event: e}))
	}
	if h.opts.Rooms == nil {
		return nil
	}
	ch, stop, err := h.opts.Rooms.Watch(s.room)
	if err != nil {
		h.detach(s)
		if errors.Is(err, sfu.ErrClosed) {
			return fmt.Errorf("server shutting down")
		}
		return fmt.Errorf("watch room: %w", err)
	}
	go func() {
		defer stop()
		for {
			select {
			case <-s.done:
				return
			case e := <-ch:
				s.send(mustMarshal(roomMessage{Kind: "room", Type: e.Type, Data: e.Data}))
			}
		}
	}()
	return nil
}
