package signaling

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/sfu"
)

func (s *Server) handleRooms(w http.ResponseWriter, r *http.Request) {
	rooms := s.opts.SFU.Rooms()
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].Name < rooms[j].Name })
	writeJSON(w, http.StatusOK, rooms)
}

// roomOf returns the request's room name, or answers the error and returns false.
func (s *Server) roomOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	room, err := roomFrom(r)
	if err != nil {
		s.writeError(w, r, err)
	}
	return room, err == nil
}

func (s *Server) handleRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomOf(w, r)
	if !ok {
		return
	}
	info, ok := s.opts.SFU.Room(room)
	if !ok {
		s.writeError(w, r, fail(http.StatusNotFound, "no room %q", room))
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// SessionInfo is GET /api/sessions/{id}: a session's public state with its per-track
// statistics.
type SessionInfo struct {
	ID      string           `json:"id"`
	Room    string           `json:"room"`
	Role    sfu.Role         `json:"role"`
	Created time.Time        `json:"created"`
	Tracks  []sfu.TrackStats `json:"tracks"`
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.opts.SFU.Session(r.PathValue("session"))
	if !ok || !auth.AllowedIn(r.Context(), sess.Room, auth.Subscribe, auth.Publish) {
		s.writeError(w, r, fail(http.StatusNotFound, "no such session"))
		return
	}
	info := SessionInfo{ID: sess.ID, Room: sess.Room, Role: sess.Role, Created: sess.Created, Tracks: []sfu.TrackStats{}}
	for _, d := range sess.DownTracks() {
		info.Tracks = append(info.Tracks, d.Stats())
	}
	writeJSON(w, http.StatusOK, info)
}

// handleEvents streams a room's events as Server-Sent Events until the client leaves or
// the server shuts down.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomOf(w, r)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, fail(http.StatusInternalServerError, "streaming unsupported"))
		return
	}
	release, err := s.opts.Admission.Watchers.Acquire(s.clientIP(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	events, stop, err := s.opts.SFU.Watch(room)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer stop()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.opts.Context.Done():
			return
		case <-ping.C:
			_, _ = fmt.Fprint(w, ": ping\n\n")
		case e := <-events:
			data, _ := json.Marshal(e.Data)
			_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, data)
		}
		flusher.Flush()
	}
}
