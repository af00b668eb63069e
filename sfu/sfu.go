// Package sfu owns rooms, publishers and viewers: it receives each publisher's RTP into a
// per-track packet ring and forwards it to every viewer through a downtrack that rewrites
// SSRC, sequence numbers and timestamps, answers NACKs from the ring, throttles keyframe
// requests, and keeps the publisher's reader ahead of all egress work. A room's publisher
// holds the room in the room directory (Options.Directory, package cluster).
package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
)

// Errors the signaling layer maps to HTTP statuses.
var (
	ErrRoomBusy    = errors.New("room already has a publisher")
	ErrNoPublisher = errors.New("room has no publisher")
	ErrClosed      = errors.New("server is shutting down")
)

// Options configure an SFU.
// Who estimates a viewer's bandwidth (Options.ViewerBWE).
const (
	ViewerBWETransportCC = "transport-cc"
	ViewerBWEREMB        = "remb"
	ViewerBWEGCC         = "gcc"
)

type Options struct {
	Transport TransportConfig
	// ViewerBWE is who estimates a viewer's bandwidth: ViewerBWEGCC (the default, ""): the
	// viewer sends transport-cc feedback and the SFU runs Glint's own delay-based estimator
	// (sfu/gcc) per viewer; ViewerBWETransportCC: the same with pion's estimator, which costs
	// more CPU and memory per viewer; ViewerBWEREMB: transport-cc is not negotiated, the
	// viewer estimates on its side and sends REMB, and the SFU adds its loss-based estimate
	// from receiver reports.
	ViewerBWE        string
	PLIInterval      time.Duration // at most one PLI per uptrack per interval
	ReplacePublisher bool          // a second publisher replaces the first instead of getting ErrRoomBusy
	Backup           BackupOptions // a second publisher stands by as the room's backup (sfu/backup.go)
	// RemotePublisher, when set, pushes a publisher kept on this node while another node
	// owns its room (sfu/backup_remote.go: backup rooms, RTMP/SRT); it is called on a
	// goroutine of its own and returns when the publisher ends or takes the room.
	RemotePublisher func(*RemotePublisher)
	// KeyframeCacheAge is how far behind live a joining viewer of a WebRTC publisher may start,
	// at the newest keyframe in the track's packet cache, instead of asking for a keyframe
	// (0: 1 s; negative: always ask). RTMP/SRT rooms always start at the cached keyframe.
	KeyframeCacheAge time.Duration
	// Directory records which session publishes each room (cluster.Publisher claims);
	// nil means a cluster.Memory of this SFU alone.
	Directory cluster.Directory
	Limits    Limits // rooms and viewers this node holds at most (zero: unlimited)
	// Rooms gives each room's policy (its latency mode: the playout-delay a viewer gets, the
	// targets GET /api/rooms/{room} shows); nil means the defaults (fastest) for all.
	Rooms  func(room string) config.RoomSettings
	Logger *slog.Logger
	// ViewerDataChannel, when set, gets every data channel a WHEP viewer opens (an offer
	// with an application section is answered with one); it is called on pion's goroutine
	// and the channel closes with the session.
	ViewerDataChannel func(room, session string, dc *webrtc.DataChannel)
}

// SFU is the set of rooms on this node.
type SFU struct {
	opts Options
	tr   *transport
	log  *slog.Logger

	mu       sync.Mutex
	closed   bool
	rooms    map[string]*Room
	waiting  map[string]map[chan Event]struct{} // event watchers of rooms that do not exist yet
	viewers  int                                // viewer places taken (reserveViewer)
	sessions map[string]*Session
	ended    endedSessions
	retired  retiredTotals
}

// New opens the media sockets and returns an SFU with no rooms.
func New(opts Options) (*SFU, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch opts.ViewerBWE {
	case "", ViewerBWETransportCC, ViewerBWEREMB, ViewerBWEGCC:
	default:
		return nil, fmt.Errorf("sfu: viewer bandwidth estimation %q: want %q, %q or %q", opts.ViewerBWE,
			ViewerBWETransportCC, ViewerBWEGCC, ViewerBWEREMB)
	}
	if opts.ViewerBWE == "" {
		opts.ViewerBWE = ViewerBWEGCC
	}
	if opts.Directory == nil {
		opts.Directory = cluster.NewMemory(cluster.DefaultNode)
	}
	if opts.PLIInterval <= 0 {
		opts.PLIInterval = 500 * time.Millisecond
	}
	if opts.Transport.ICETimeout <= 0 {
		opts.Transport.ICETimeout = 10 * time.Second
	}
	if opts.Transport.ReadBuffer <= 0 {
		opts.Transport.ReadBuffer = 8 << 20
	}
	tr, err := newTransport(opts.Transport, opts.Logger)
	if err != nil {
		return nil, err
	}
	return &SFU{opts: opts, tr: tr, log: opts.Logger, rooms: map[string]*Room{}, waiting: map[string]map[chan Event]struct{}{}, sessions: map[string]*Session{}}, nil
}

// MediaPort is the UDP (and ICE-TCP) port WebRTC media uses.
func (s *SFU) MediaPort() int { return s.tr.Port() }

// Session returns a live session by id.
func (s *SFU) Session(id string) (*Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	return sess, ok
}

// RecentlyEnded reports whether a session with this id ended lately (its peer went away
// just before its client's DELETE, which should then still succeed).
func (s *SFU) RecentlyEnded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended.has(id)
}

// endedSessions remembers the ids of the last endedMemory sessions that ended.
type endedSessions struct {
	ids  map[string]struct{}
	fifo []string
}

const endedMemory = 4096

func (e *endedSessions) add(id string) {
	if e.ids == nil {
		e.ids = map[string]struct{}{}
	}
	if len(e.fifo) >= endedMemory {
		delete(e.ids, e.fifo[0])
		e.fifo = e.fifo[1:]
	}
	e.ids[id] = struct{}{}
	e.fifo = append(e.fifo, id)
}

func (e *endedSessions) has(id string) bool {
	_, ok := e.ids[id]
	return ok
}

// Rooms returns the state of every room, live or waiting.
func (s *SFU) Rooms() []RoomInfo {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	out := make([]RoomInfo, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, r.Info())
	}
	return out
}

// Room returns one room's state.
func (s *SFU) Room(name string) (RoomInfo, bool) {
	s.mu.Lock()
	r, ok := s.rooms[name]
	s.mu.Unlock()
	if !ok {
		return RoomInfo{}, false
	}
	return r.Info(), true
}

// Watch follows a room's events. A room that does not exist yet is not created (only a
// publish creates one): its watcher waits outside the rooms, told it is not live, and is
// moved into the room when a publisher creates it. Call stop when done.
func (s *SFU) Watch(name string) (<-chan Event, func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, ErrClosed
	}
	if r, ok := s.rooms[name]; ok {
		s.mu.Unlock()
		ch, unwatch := r.watch()
		return ch, func() { unwatch(); s.dropIfIdle(r) }, nil
	}
	ch := make(chan Event, watchBuffer)
	ch <- Event{Type: "publisher", Data: map[string]any{"live": false, "tracks": []TrackInfo{}}}
	ch <- Event{Type: "viewers", Data: map[string]any{"viewers": 0}}
	if s.waiting[name] == nil {
		s.waiting[name] = map[chan Event]struct{}{}
	}
	s.waiting[name][ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() { s.unwatchWaiting(name, ch) }, nil
}

// unwatchWaiting ends a watcher that Watch put in the waiting list: there still, or in the
// room a publisher created since (which it kept alive, so the room is the one it joined).
func (s *SFU) unwatchWaiting(name string, ch chan Event) {
	s.mu.Lock()
	if _, ok := s.waiting[name][ch]; ok {
		delete(s.waiting[name], ch)
		if len(s.waiting[name]) == 0 {
			delete(s.waiting, name)
		}
		s.mu.Unlock()
		return
	}
	r := s.rooms[name]
	s.mu.Unlock()
	if r != nil {
		r.mu.Lock()
		delete(r.watchers, ch)
		r.mu.Unlock()
		s.dropIfIdle(r)
	}
}

// room returns the room of a publish, creating it (within Limits.Rooms).
func (s *SFU) room(name string) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if r, ok := s.rooms[name]; ok {
		return r, nil
	}
	return s.createRoomLocked(name)
}

// existingRoom returns the room if it exists.
func (s *SFU) existingRoom(name string) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	r, ok := s.rooms[name]
	if !ok {
		return nil, ErrNoPublisher
	}
	return r, nil
}

func (s *SFU) dropIfIdle(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.idle() && s.rooms[r.name] == r {
		delete(s.rooms, r.name)
	}
}

func (s *SFU) newSession(room *Room, role Role) *Session {
	ctx, cancel := context.WithCancel(context.Background())
	sess := &Session{
		ID: newSessionID(), Room: room.name, Role: role, Created: time.Now(),
		room: room, sfu: s, ctx: ctx, cancel: cancel, closed: make(chan struct{}),
	}
	sess.log = room.log.With("session", sess.ID, "role", string(role))
	return sess
}

func (s *SFU) register(sess *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.sessions[sess.ID] = sess
	return nil
}

// forget removes a closing session from its room and the SFU.
func (s *SFU) forget(sess *Session) {
	s.mu.Lock()
	delete(s.sessions, sess.ID)
	s.ended.add(sess.ID)
	s.mu.Unlock()
	r := sess.room
	switch sess.Role {
	case RolePublisher:
		if !s.leaveBackup(r, sess) {
			r.removePublisher(sess)
		}
	case RoleAlternate:
		r.removeAlternate(sess)
	default:
		r.mu.Lock()
		delete(r.viewers, sess.ID)
		delete(r.relays, sess.ID)
		r.mu.Unlock()
		if sess.viewerPlace {
			s.releaseViewer(r)
		}
		for _, d := range sess.DownTracks() {
			d.slot.detach(d)
			s.retired.add(d)
		}
		r.broadcastViewers()
	}
	s.dropIfIdle(r)
}

// isClosed reports whether Close has begun.
func (s *SFU) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close ends every session (stop accepting first) and releases the media sockets.
func (s *SFU) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	sessions := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, sess := range sessions {
			wg.Add(1)
			go func() { defer wg.Done(); sess.Close() }()
		}
		wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("sfu close: %w", ctx.Err())
	}
	s.tr.close()
	return err
}

// ClientSettings puts the node's ICE candidate policy (loopback included, no mDNS, the
// --ice-ip / --ice-interface allow-lists) on the SettingEngine of a connection the node
// opens itself, e.g. a relay from another node.
func (s *SFU) ClientSettings(se *webrtc.SettingEngine) { s.tr.applyCandidatePolicy(se) }
