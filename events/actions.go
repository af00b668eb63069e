package events

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// An action is judged by what the viewer could have seen: the capture instant it claims to
// have had on screen must be before the event's close instant, and must match, within the
// tolerance, what its socket's measured delay puts on its screen when the action arrives.
// A viewer on a faster path gains nothing (its screen instant is the same in a sync room,
// and the judgement is by capture time, not arrival), and a forged early claim is refused.

// Limits on an action's claimed instant relative to the server's clock.
const maxActionAge = 30 * time.Second

// postActionRequest is the body of POST /api/rooms/{room}/actions.
type postActionRequest struct {
	Event   string          `json:"event"`
	Socket  string          `json:"socket"`
	Payload json.RawMessage `json:"payload"`
	// SeenCaptureMs is the capture time (unix ms, server scale) of the frame on the viewer's
	// screen when it acted.
	SeenCaptureMs *float64 `json:"seen_capture_ms"`
}

// Action is an accepted action.
type Action struct {
	Socket        string          `json:"socket"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	SeenCaptureMs float64         `json:"seen_capture_ms"`
	ReceivedMs    int64           `json:"received_ms"`
	// MarginMs is how long before the close instant the viewer acted (0: not closed yet).
	MarginMs float64 `json:"margin_ms,omitempty"`
}

// handlePostAction serves POST /api/rooms/{room}/actions.
func (h *Hub) handlePostAction(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	room, err := roomOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req postActionRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if sub := h.subscriberByID(room, req.Socket); sub != nil {
		if ok, wait := sub.takeAction(now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			httpError(w, http.StatusTooManyRequests, fmt.Sprintf("socket %s is over its action rate (%d/s, burst %d)", sub.id, actionRate, actionBurst))
			return
		}
	}
	a, err := h.judge(room, req, now)
	if err != nil {
		h.log.Info("events: action refused", "room", room, "event", req.Event, "socket", req.Socket, "reason", err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, a)
}

// judge checks an action and records it on its event.
func (h *Hub) judge(room string, req postActionRequest, now time.Time) (Action, error) {
	payload, err := compactPayload(req.Payload)
	if err != nil {
		return Action{}, err
	}
	if req.SeenCaptureMs == nil || !finite(*req.SeenCaptureMs) {
		return Action{}, fail(http.StatusBadRequest, "seen_capture_ms: the capture time (unix ms) of the frame on screen is required")
	}
	seen := *req.SeenCaptureMs
	nowMs := unixMs(now)
	switch {
	case seen > nowMs:
		return Action{}, fail(http.StatusBadRequest, "seen_capture_ms is %.0f ms in the future of the server's clock", seen-nowMs)
	case seen < nowMs-float64(maxActionAge.Milliseconds()):
		return Action{}, fail(http.StatusBadRequest, "seen_capture_ms is %.1f s in the past (at most %s)", (nowMs-seen)/1000, maxActionAge)
	}
	sub := h.subscriberByID(room, req.Socket)
	if sub == nil {
		return Action{}, fail(http.StatusBadRequest, "socket %.40q is not connected to room %q: open /ws/rooms/%s and send its id", req.Socket, room, room)
	}
	delay, rtt, ok := sub.delay()
	if !ok {
		return Action{}, fail(http.StatusBadRequest, "socket %s has not reported its delay (a delay message) yet", sub.id)
	}
	if err := h.plausible(seen, nowMs, delay, rtt); err != nil {
		return Action{}, err
	}
	return h.record(room, req.Event, Action{Socket: sub.id, Payload: payload, SeenCaptureMs: seen,
		ReceivedMs: now.UnixMilli()})
}

// plausible checks a claimed on-screen instant against the viewer's delay: on arrival (now)
// the viewer's screen shows capture now − delay; the action left it up to about one
// round-trip earlier (the uplink), so the claim must lie in
// [now − delay − rtt − tolerance, now − delay + tolerance].
func (h *Hub) plausible(seen, nowMs float64, delay, rtt time.Duration) error {
	tol := float64(h.opts.Settings.ActionTolerance.Microseconds()) / 1000
	onScreen := nowMs - float64(delay.Microseconds())/1000
	uplink := float64(min(rtt, time.Second).Microseconds()) / 1000
	if over := seen - (onScreen + tol); over > 0 {
		return fail(http.StatusBadRequest, "seen_capture_ms is %.0f ms after what this viewer's screen shows (delay %d ms, tolerance %.0f ms)",
			over+tol, delay.Milliseconds(), tol)
	}
	if under := (onScreen - uplink - tol) - seen; under > 0 {
		return fail(http.StatusBadRequest, "seen_capture_ms is %.0f ms before what this viewer's screen could show (delay %d ms, round trip %d ms, tolerance %.0f ms): refused as forged",
			under+uplink+tol, delay.Milliseconds(), rtt.Milliseconds(), tol)
	}
	return nil
}

// record stores an accepted action on its event, if the event is still open at seen.
func (h *Hub) record(room, eventID string, a Action) (Action, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ev *storedEvent
	if r := h.rooms[room]; r != nil {
		ev = r.event(eventID)
	}
	switch {
	case ev == nil:
		return Action{}, fail(http.StatusNotFound, "no event %.40q in room %q (events take actions for %s)", eventID, room, keepEvents)
	case ev.CloseMs != 0 && a.SeenCaptureMs >= float64(ev.CloseMs):
		return Action{}, fail(http.StatusConflict, "too late: the viewer saw capture instant %.0f ms after the event closed", a.SeenCaptureMs-float64(ev.CloseMs))
	case a.SeenCaptureMs < float64(ev.CaptureMs):
		return Action{}, fail(http.StatusConflict, "too early: the viewer acted %.0f ms before the event's frame", float64(ev.CaptureMs)-a.SeenCaptureMs)
	case len(ev.actions) >= maxActionsPer:
		return Action{}, fail(http.StatusServiceUnavailable, "event %s holds %d actions, the limit", ev.ID, maxActionsPer)
	}
	if ev.CloseMs != 0 {
		a.MarginMs = math.Round((float64(ev.CloseMs)-a.SeenCaptureMs)*1000) / 1000
	}
	ev.actions = append(ev.actions, a)
	return a, nil
}

// handleListActions serves GET /api/rooms/{room}/timed-events/{id}/actions: the accepted
// actions of an event, for whoever may post events.
func (h *Hub) handleListActions(w http.ResponseWriter, r *http.Request) {
	room, ok := h.authorizedRoom(w, r)
	if !ok {
		return
	}
	var actions []Action
	h.mu.Lock()
	if rm := h.rooms[room]; rm != nil {
		if e := rm.event(r.PathValue("id")); e != nil {
			actions = append([]Action{}, e.actions...)
		}
	}
	h.mu.Unlock()
	if actions == nil {
		httpError(w, http.StatusNotFound, "no such event")
		return
	}
	writeJSON(w, http.StatusOK, actions)
}
