// Package events owns Glint's clock and event channel: the WebSocket GET /ws/rooms/{room}
// (NTP-style clock sync, the room's events as the SFU reports them, the room's sync target,
// timed events), the same messages on a WebRTC data channel for WHEP viewers that open one,
// timed events posted to POST /api/rooms/{room}/events and stamped with the capture time of
// the frame on air, and fair actions (POST /api/rooms/{room}/actions) judged by what the
// viewer could have seen, not by when the action arrived. Timed events are also handed to a
// MediaMarker, which places them in the room's LL-HLS (EXT-X-DATERANGE and emsg).
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/sfu"
)

// Event is one timed event of a room.
type Event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// CaptureMs is the capture time (unix milliseconds, PROGRAM-DATE-TIME scale) of the frame
	// the event belongs to: a page shows the event when that frame is on screen.
	CaptureMs int64 `json:"capture_ms"`
	// CloseMs, when set, is the capture instant from which actions on the event are refused;
	// unset, the event takes actions until an event that Closes it.
	CloseMs int64 `json:"close_ms,omitempty"`
	// Closes is the ID of an earlier event this one closes (its CloseMs becomes CaptureMs).
	Closes string `json:"closes,omitempty"`
	// PostedMs is when the server accepted the event (server clock, unix milliseconds).
	PostedMs int64 `json:"posted_ms"`
}

// Capture returns the event's capture time.
func (e Event) Capture() time.Time { return time.UnixMilli(e.CaptureMs) }

// Targets is a room's sync policy: Sync rooms hold every viewer at capture + target delay
// (WebRTC and LL-HLS have their own targets); other rooms play as fast as possible.
type Targets struct {
	Sync   bool
	WebRTC time.Duration
	HLS    time.Duration
}

// Default sync targets (capture → screen) when a sync room does not set its own.
const (
	DefaultWebRTCTarget = 400 * time.Millisecond
	DefaultHLSTarget    = 1500 * time.Millisecond
)

// OnAir gives the capture time of the newest video frame of a live room (false when the
// room has no video on air).
type OnAir interface {
	OnAir(room string) (time.Time, bool)
}

// MediaMarker places a timed event in a room's media (LL-HLS: EXT-X-DATERANGE, emsg).
type MediaMarker interface {
	Mark(room string, e Event)
}

// RoomWatcher is the source of room events (sfu.SFU.Watch, the one SSE uses too).
type RoomWatcher interface {
	Watch(room string) (<-chan sfu.Event, func(), error)
}

// Options configure a Hub.
type Options struct {
	Settings config.EventSettings
	Rooms    RoomWatcher
	// Authorize decides who may post events (nil error: allowed). It is the one seam for
	// publisher/admin authorization.
	Authorize func(r *http.Request, room string) error
	// Targets gives a room's sync policy; nil: no room is a sync room.
	Targets func(room string) Targets
	OnAir   OnAir       // nil: events without `at` are stamped with the server's clock
	Marker  MediaMarker // nil: events are not placed in media
	// AllowedOrigin is the page origin allowed to open WebSockets ("*" or empty: any).
	AllowedOrigin string
	Logger        *slog.Logger
	// Now is the server clock (tests skew it); nil: time.Now.
	Now func() time.Time
}

// Hub serves the event channel of every room.
type Hub struct {
	opts  Options
	log   *slog.Logger
	types map[string]bool

	mu    sync.Mutex
	rooms map[string]*room
}

// room is one room's subscribers and recent events.
type room struct {
	name   string
	subs   map[*subscriber]struct{}
	events []*storedEvent // oldest first, at most maxEvents, none older than keepEvents
	bucket tokenBucket
}

type storedEvent struct {
	Event
	actions []Action
}

const (
	maxEvents     = 256              // kept per room, for actions and late joiners
	keepEvents    = 10 * time.Minute // an event older than this takes no more actions
	replayWindow  = 30 * time.Second // a new subscriber gets the events of this last stretch
	maxActionsPer = 100000           // accepted actions kept per event
)

// New returns a Hub; Run must run for its housekeeping.
func New(opts Options) *Hub {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Authorize == nil {
		opts.Authorize = func(*http.Request, string) error { return nil }
	}
	if opts.Targets == nil {
		opts.Targets = func(string) Targets { return Targets{} }
	}
	if len(opts.Settings.EventTypes) == 0 || opts.Settings.EventRate <= 0 {
		def := config.Defaults().Events
		if len(opts.Settings.EventTypes) == 0 {
			opts.Settings.EventTypes = def.EventTypes
		}
		if opts.Settings.EventRate <= 0 {
			opts.Settings.EventRate, opts.Settings.EventBurst = def.EventRate, def.EventBurst
		}
	}
	if opts.Settings.ActionTolerance <= 0 {
		opts.Settings.ActionTolerance = config.Defaults().Events.ActionTolerance
	}
	if opts.Settings.EventSockets <= 0 {
		opts.Settings.EventSockets = config.Defaults().Events.EventSockets
	}
	types := map[string]bool{}
	for _, t := range opts.Settings.EventTypes {
		types[t] = true
	}
	return &Hub{opts: opts, log: opts.Logger.With("component", "events"), types: types, rooms: map[string]*room{}}
}

// Register adds the endpoints to mux.
func (h *Hub) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ws/rooms/{room}", h.handleWebSocket)
	mux.Handle("POST /api/rooms/{room}/events", h.cors(h.handlePostEvent))
	mux.Handle("GET /api/rooms/{room}/timed-events", h.cors(h.handleListEvents))
	mux.Handle("POST /api/rooms/{room}/actions", h.cors(h.handlePostAction))
	mux.Handle("GET /api/rooms/{room}/timed-events/{id}/actions", h.cors(h.handleListActions))
}

// cors lets pages of the allowed origin call the API (preflights are signaling's OPTIONS
// /api/ handler).
func (h *Hub) cors(next http.HandlerFunc) http.Handler {
	origin := h.opts.AllowedOrigin
	if origin == "" {
		origin = "*"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		next(w, r)
	})
}

// Run drops idle rooms' state until ctx ends, then closes every subscriber.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.closeAll()
			return
		case <-t.C:
			h.prune()
		}
	}
}

func (h *Hub) now() time.Time { return h.opts.Now() }

// roomLocked returns room name's state, creating it.
func (h *Hub) roomLocked(name string) *room {
	r := h.rooms[name]
	if r == nil {
		r = &room{name: name, subs: map[*subscriber]struct{}{}}
		r.bucket = newTokenBucket(h.opts.Settings.EventRate, h.opts.Settings.EventBurst, h.now())
		h.rooms[name] = r
	}
	return r
}

// event returns the stored event id, or nil.
func (r *room) event(id string) *storedEvent {
	for _, e := range r.events {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// prune forgets old events and rooms with neither subscribers nor recent events.
func (h *Hub) prune() {
	h.mu.Lock()
	defer h.mu.Unlock()
	cutoff := h.now().Add(-keepEvents).UnixMilli()
	for name, r := range h.rooms {
		r.events = slices.DeleteFunc(r.events, func(e *storedEvent) bool { return e.PostedMs < cutoff })
		if len(r.subs) == 0 && len(r.events) == 0 {
			delete(h.rooms, name)
		}
	}
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	var all []*subscriber
	for _, r := range h.rooms {
		for s := range r.subs {
			all = append(all, s)
		}
	}
	h.mu.Unlock()
	for _, s := range all {
		s.close(closeGoingAway, "server shutting down")
	}
}

// attach adds a subscriber to its room, unless the room is full; it returns the events of
// the replay window for the subscriber to send first.
func (h *Hub) attach(s *subscriber) ([]Event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.roomLocked(s.room)
	if len(r.subs) >= h.opts.Settings.EventSockets {
		return nil, fmt.Errorf("room %q has %d event subscribers, the limit", s.room, len(r.subs))
	}
	r.subs[s] = struct{}{}
	since := h.now().Add(-replayWindow).UnixMilli()
	var replay []Event
	for _, e := range r.events {
		if e.CaptureMs >= since || e.CloseMs >= since {
			replay = append(replay, e.Event)
		}
	}
	return replay, nil
}

func (h *Hub) detach(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[s.room]; r != nil {
		delete(r.subs, s)
	}
}

// subscriberByID finds a room's subscriber (for actions).
func (h *Hub) subscriberByID(roomName, id string) *subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[roomName]; r != nil {
		for s := range r.subs {
			if s.id == id {
				return s
			}
		}
	}
	return nil
}

// publish stores e and sends it to every subscriber of the room and to the media marker.
func (h *Hub) publish(roomName string, e Event) {
	msg := mustMarshal(eventMessage{Kind: "event", Event: e})
	h.mu.Lock()
	r := h.roomLocked(roomName)
	if target := r.event(e.Closes); target != nil {
		target.CloseMs = e.CaptureMs
	}
	r.events = append(r.events, &storedEvent{Event: e})
	if n := len(r.events) - maxEvents; n > 0 {
		r.events = slices.Delete(r.events, 0, n)
	}
	subs := make([]*subscriber, 0, len(r.subs))
	for s := range r.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.send(msg)
	}
	if h.opts.Marker != nil {
		h.opts.Marker.Mark(roomName, e)
	}
	h.log.Info("events: event published", "room", roomName, "id", e.ID, "type", e.Type,
		"capture", e.Capture().UTC().Format(time.RFC3339Nano), "subscribers", len(subs))
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("events: marshal %T: %v", v, err))
	}
	return b
}
