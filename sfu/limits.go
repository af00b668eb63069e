package sfu

import (
	"fmt"
)

// Limits bound what one node holds (0: unlimited).
type Limits struct {
	Rooms          int // rooms: a publish into a new room over it gets a *LimitError
	ViewersPerRoom int // WHEP viewers of one room
	Viewers        int // WHEP viewers on the node
}

// LimitError is a node limit at its maximum; signaling answers it with 503 and the reason.
type LimitError struct {
	Kind string // "rooms", "viewers_per_room", "viewers"
	Max  int
}

func (e *LimitError) Error() string {
	switch e.Kind {
	case "rooms":
		return fmt.Sprintf("this server holds its maximum of %d rooms", e.Max)
	case "viewers_per_room":
		return fmt.Sprintf("this room has its maximum of %d viewers", e.Max)
	}
	return fmt.Sprintf("this server has its maximum of %d viewers", e.Max)
}

// Load is what the node holds now, against its Limits.
type Load struct {
	Rooms   int
	Viewers int
	Limits  Limits
}

// Load returns the node's rooms and viewers and its limits.
func (s *SFU) Load() Load {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Load{Rooms: len(s.rooms), Viewers: s.viewers, Limits: s.opts.Limits}
}

// Full reports whether a limit of the node (rooms or viewers) is at its maximum, and which.
func (l Load) Full() (bool, string) {
	switch {
	case l.Limits.Viewers > 0 && l.Viewers >= l.Limits.Viewers:
		return true, fmt.Sprintf("%d viewers, the node's maximum", l.Viewers)
	case l.Limits.Rooms > 0 && l.Rooms >= l.Limits.Rooms:
		return true, fmt.Sprintf("%d rooms, the node's maximum", l.Rooms)
	}
	return false, ""
}

// reserveViewer counts one more viewer of room, or refuses with a *LimitError. The session
// that gets the place gives it back when it ends (forget).
func (s *SFU) reserveViewer(room *Room) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max := s.opts.Limits.Viewers; max > 0 && s.viewers >= max {
		return &LimitError{Kind: "viewers", Max: max}
	}
	room.mu.Lock()
	defer room.mu.Unlock()
	if max := s.opts.Limits.ViewersPerRoom; max > 0 && room.viewerPlaces >= max {
		return &LimitError{Kind: "viewers_per_room", Max: max}
	}
	room.viewerPlaces++
	s.viewers++
	return nil
}

func (s *SFU) releaseViewer(room *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	room.mu.Lock()
	defer room.mu.Unlock()
	room.viewerPlaces--
	s.viewers--
}

// createRoomLocked makes the room entry of a publish, within Limits.Rooms, and moves the
// event watchers that waited for it into it. Only a publish creates a room: a viewer, an
// event stream or the LL-HLS bridge never does. Called with s.mu held.
func (s *SFU) createRoomLocked(name string) (*Room, error) {
	if max := s.opts.Limits.Rooms; max > 0 && len(s.rooms) >= max {
		return nil, &LimitError{Kind: "rooms", Max: max}
	}
	r := newRoom(name, s.log, s.opts.Directory)
	if s.opts.Rooms != nil {
		r.policy = s.opts.Rooms(name)
	}
	for ch := range s.waiting[name] {
		r.watchers[ch] = struct{}{}
	}
	delete(s.waiting, name)
	s.rooms[name] = r
	return r, nil
}
