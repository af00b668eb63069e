package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/glint-video/glint/config"
)

// MaxPayloadBytes bounds an event's or an action's payload (compact JSON).
const MaxPayloadBytes = 4096

// maxBodyBytes bounds a request body: a payload at its limit plus the other fields.
const maxBodyBytes = 2*MaxPayloadBytes + 1024

// Limits on an event's capture time relative to the server's clock.
const (
	maxEventPast   = time.Hour
	maxEventFuture = time.Minute
	maxCloseAfter  = time.Hour
)

// postEventRequest is the body of POST /api/rooms/{room}/events.
type postEventRequest struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	// At is the event's capture time: RFC 3339 or unix milliseconds; absent: the frame on air.
	At json.RawMessage `json:"at"`
	// CloseAt (same forms) or CloseInMs (after the event's capture time) set its close instant.
	CloseAt   json.RawMessage `json:"close_at"`
	CloseInMs *int64          `json:"close_in_ms"`
	// Closes names an earlier event of the room that this one closes.
	Closes string `json:"closes"`
}

// statusError is an error with the HTTP status it answers.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &statusError{status, fmt.Sprintf(format, args...)}
}

// httpError answers {"error": msg}, as signaling's endpoints do.
func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeError(w http.ResponseWriter, err error) {
	var se *statusError
	if errors.As(err, &se) {
		httpError(w, se.status, se.msg)
		return
	}
	httpError(w, http.StatusInternalServerError, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func roomOf(r *http.Request) (string, error) {
	room := r.PathValue("room")
	if !config.ValidRoomName(room) {
		return "", fail(http.StatusBadRequest, "invalid room name %.70q: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit", room)
	}
	return room, nil
}

// decodeBody decodes a JSON body strictly into v.
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fail(http.StatusUnsupportedMediaType, "Content-Type %q: want application/json", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return fail(http.StatusBadRequest, "read body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return fail(http.StatusBadRequest, "body over %d bytes (payload at most %d bytes)", maxBodyBytes, MaxPayloadBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, "bad JSON body: %s", shorten(err.Error()))
	}
	return nil
}

// compactPayload returns the payload as compact JSON within MaxPayloadBytes (nil when absent).
func compactPayload(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fail(http.StatusBadRequest, "payload: %v", err)
	}
	if b.Len() > MaxPayloadBytes {
		return nil, fail(http.StatusBadRequest, "payload is %d bytes, over the %d-byte limit", b.Len(), MaxPayloadBytes)
	}
	return b.Bytes(), nil
}

// parseInstant reads a time given as an RFC 3339 string or a number of unix milliseconds.
func parseInstant(field string, raw json.RawMessage) (time.Time, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fail(http.StatusBadRequest, "%s %.40q: want RFC 3339 (2026-01-02T15:04:05.123Z) or unix milliseconds", field, s)
		}
		return t, nil
	}
	var ms float64
	if err := json.Unmarshal(raw, &ms); err != nil || !finite(ms) || math.Abs(ms) > 1e15 {
		return time.Time{}, fail(http.StatusBadRequest, "%s: want RFC 3339 or unix milliseconds", field)
	}
	return time.UnixMicro(int64(ms * 1000)), nil
}

// authorizedRoom returns the request's room when the request may post its events (the
// Authorize seam), or answers 400/401 and returns false.
func (h *Hub) authorizedRoom(w http.ResponseWriter, r *http.Request) (string, bool) {
	room, err := roomOf(r)
	if err != nil {
		writeError(w, err)
		return "", false
	}
	if err := h.opts.Authorize(r, room); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="glint"`)
		httpError(w, http.StatusUnauthorized, "unauthorized: "+err.Error())
		return "", false
	}
	return room, true
}

// handlePostEvent serves POST /api/rooms/{room}/events.
func (h *Hub) handlePostEvent(w http.ResponseWriter, r *http.Request) {
	room, ok := h.authorizedRoom(w, r)
	if !ok {
		return
	}
	var req postEventRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	e, err := h.newEvent(room, req)
	if err != nil {
		writeError(w, err)
		return
	}
	if ok, wait := h.takeToken(room); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		httpError(w, http.StatusTooManyRequests, fmt.Sprintf("room %q is over its event rate (%g/s, burst %d)",
			room, h.opts.Settings.EventRate, h.opts.Settings.EventBurst))
		return
	}
	h.publish(room, e)
	writeJSON(w, http.StatusCreated, e)
}

// newEvent checks a posted event and stamps it.
func (h *Hub) newEvent(room string, req postEventRequest) (Event, error) {
	if !h.types[req.Type] {
		allowed := append([]string(nil), h.opts.Settings.EventTypes...)
		sort.Strings(allowed)
		return Event{}, fail(http.StatusBadRequest, "unknown event type %.40q (allowed: %s)", req.Type, strings.Join(allowed, ", "))
	}
	payload, err := compactPayload(req.Payload)
	if err != nil {
		return Event{}, err
	}
	now := h.now()
	capture, err := h.captureOf(room, req.At, now)
	if err != nil {
		return Event{}, err
	}
	e := Event{ID: newID(), Type: req.Type, Payload: payload, CaptureMs: capture.UnixMilli(), PostedMs: now.UnixMilli(),
		Closes: req.Closes}
	if req.Closes != "" && !h.hasOpenEvent(room, req.Closes) {
		return Event{}, fail(http.StatusBadRequest, "closes %.40q: no open event with that id in room %q", req.Closes, room)
	}
	switch {
	case len(req.CloseAt) > 0 && req.CloseInMs != nil:
		return Event{}, fail(http.StatusBadRequest, "give close_at or close_in_ms, not both")
	case len(req.CloseAt) > 0:
		c, err := parseInstant("close_at", req.CloseAt)
		if err != nil {
			return Event{}, err
		}
		e.CloseMs = c.UnixMilli()
	case req.CloseInMs != nil:
		e.CloseMs = e.CaptureMs + *req.CloseInMs
	}
	if e.CloseMs != 0 && (e.CloseMs < e.CaptureMs || e.CloseMs > e.CaptureMs+maxCloseAfter.Milliseconds()) {
		return Event{}, fail(http.StatusBadRequest, "close instant must be from the event's capture time to 1h after it")
	}
	return e, nil
}

// captureOf returns the event's capture time: the given `at`, or the capture time of the
// room's frame on air now.
func (h *Hub) captureOf(room string, at json.RawMessage, now time.Time) (time.Time, error) {
	if len(at) > 0 {
		t, err := parseInstant("at", at)
		if err != nil {
			return time.Time{}, err
		}
		if t.Before(now.Add(-maxEventPast)) || t.After(now.Add(maxEventFuture)) {
			return time.Time{}, fail(http.StatusBadRequest, "at %s is %s from the server's clock: it must be within 1h before and 1m after now",
				t.UTC().Format(time.RFC3339Nano), t.Sub(now).Round(time.Millisecond))
		}
		return t, nil
	}
	if h.opts.OnAir == nil {
		return now, nil
	}
	t, ok := h.opts.OnAir.OnAir(room)
	if !ok {
		return time.Time{}, fail(http.StatusConflict, "room %q has no video on air: give the event's capture time in `at`", room)
	}
	return t, nil
}

// hasOpenEvent reports whether the room has event id and it has no close instant yet.
func (h *Hub) hasOpenEvent(room, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[room]; r != nil {
		e := r.event(id)
		return e != nil && e.CloseMs == 0
	}
	return false
}

func (h *Hub) takeToken(room string) (bool, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.roomLocked(room)
	return r.bucket.take(h.now())
}

// handleListEvents serves GET /api/rooms/{room}/timed-events: the room's recent events.
func (h *Hub) handleListEvents(w http.ResponseWriter, r *http.Request) {
	room, err := roomOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	h.mu.Lock()
	out := []Event{}
	if rm := h.rooms[room]; rm != nil {
		for _, e := range rm.events {
			out = append(out, e.Event)
		}
	}
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
