package sfu

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/media"
)

// Event is a change in a room that pages and clients can follow.
type Event struct {
	Type string // "publisher" or "viewers"
	Data any
}

// TrackInfo describes one slot of a room.
type TrackInfo struct {
	Kind   string   `json:"kind"`
	Codec  string   `json:"codec"`
	Fmtp   string   `json:"fmtp,omitempty"`
	Layers []string `json:"layers,omitempty"`
}

// RoomInfo is a room's public state.
type RoomInfo struct {
	Name    string      `json:"name"`
	Live    bool        `json:"live"`
	Viewers int         `json:"viewers"`
	Relays  int         `json:"relays,omitempty"`  // other nodes' relays of the room (not viewers)
	Relayed bool        `json:"relayed,omitempty"` // the publisher is a relay from another node
	Tracks  []TrackInfo `json:"tracks"`
	Since   time.Time   `json:"since,omitzero"`
	// Latency is the room's latency mode (fastest or sync); a sync room's viewers hold
	// capture + TargetDelayMs (WebRTC) or HLSTargetDelayMs (LL-HLS) on screen.
	Latency          string      `json:"latency"`
	TargetDelayMs    int64       `json:"target_delay_ms,omitempty"`
	HLSTargetDelayMs int64       `json:"hls_target_delay_ms,omitempty"`
	Backup           *BackupInfo `json:"backup,omitempty"` // a standby publisher (publisher_policy backup)
	// Alternate is the room's alternate video (H.264 for viewers without the room's codec).
	Alternate *TrackInfo `json:"alternate,omitempty"`
}

// Room has at most one publisher and any number of viewers. Its slots carry media from the
// publisher's uptracks to the viewers' downtracks and survive a publisher's reconnect.
type Room struct {
	name string
	log  *slog.Logger
	dir  cluster.Directory
	// policy is the room's configured policy (sfu.Options.Rooms), fixed for its lifetime.
	policy config.RoomSettings

	mu        sync.Mutex
	publisher *Session
	claim     cluster.Claim // the publisher's claim in the room directory
	live      bool
	since     time.Time
	slots     map[string]*slot
	viewers   map[string]*Session
	relays    map[string]*Session // relay subscribers (other nodes), not viewers
	watchers  map[chan Event]struct{}
	// viewerPlaces counts the viewers admitted (reserveViewer), joining or joined.
	viewerPlaces int
	bk           backupState    // a standby publisher (sfu/backup.go)
	alt          alternateState // the H.264 alternate of an H.265/AV1 room's video (sfu/alternate.go)
}

// watchBuffer is how many events a watcher may fall behind before it loses some.
const watchBuffer = 16

func newRoom(name string, log *slog.Logger, dir cluster.Directory) *Room {
	return &Room{
		name: name, log: log.With("room", name), dir: dir, slots: map[string]*slot{},
		viewers: map[string]*Session{}, relays: map[string]*Session{}, watchers: map[chan Event]struct{}{},
	}
}

// idle reports whether the room has nobody in it and can be forgotten.
func (r *Room) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publisher == nil && r.bk.standby == nil && len(r.viewers) == 0 && len(r.relays) == 0 && len(r.watchers) == 0
}

// slotFor returns the slot that carries codec for kind: the existing one when the codec is
// the same (its viewers resume), else a new one; the viewers of a replaced slot are
// returned so the caller can close them (they must renegotiate with a new WHEP request).
// Called with r.mu held.
func (r *Room) slotFor(kind string, codec webrtc.RTPCodecParameters) (s *slot, stale []*Session) {
	if s, ok := r.slots[kind]; ok {
		if sameCodec(s.codec, codec) {
			return s, nil
		}
		for _, v := range r.viewers {
			if v.usesSlot(s) {
				stale = append(stale, v)
			}
		}
		for _, v := range r.relays {
			if v.usesSlot(s) {
				stale = append(stale, v)
			}
		}
	}
	s = newSlot(kind, codec)
	r.slots[kind] = s
	return s, stale
}

func sameCodec(a, b webrtc.RTPCodecParameters) bool {
	return strings.EqualFold(a.MimeType, b.MimeType) && a.ClockRate == b.ClockRate &&
		media.FmtpCompatible(a.MimeType, a.SDPFmtpLine, b.SDPFmtpLine) &&
		media.FmtpCompatible(a.MimeType, b.SDPFmtpLine, a.SDPFmtpLine)
}

// setLive marks the publisher's media as flowing (or not) and tells the watchers.
func (r *Room) setLive(pub *Session, live bool) {
	r.mu.Lock()
	if r.publisher != pub || r.live == live {
		r.mu.Unlock()
		return
	}
	r.live = live
	if live {
		r.since = time.Now()
	}
	r.mu.Unlock()
	r.log.Info("room publisher", "live", live, "session", pub.ID)
	r.broadcastPublisher()
}

// removePublisher detaches pub's uptracks; viewers stay and wait for the next publisher,
// relay subscribers are closed.
func (r *Room) removePublisher(pub *Session) {
	r.mu.Lock()
	if r.publisher != pub {
		r.mu.Unlock()
		return
	}
	r.publisher, r.live = nil, false
	relays := make([]*Session, 0, len(r.relays))
	for _, rs := range r.relays {
		relays = append(relays, rs)
	}
	if !pub.fromRelay { // a relay holds no claim: the room's owner is the node it relays from
		if err := r.dir.Release(context.Background(), r.claim); err != nil {
			r.log.Warn("room directory: publisher's claim already gone", "session", pub.ID, "err", err.Error())
		}
	}
	slots := r.slotList()
	r.mu.Unlock()
	for _, rs := range relays {
		// Other nodes' relays end with the publisher: their rooms stop being live, and
		// they reconnect (their viewers staying) when a publisher is back.
		go rs.Close()
	}
	for _, up := range pub.upTracks() {
		for _, s := range slots {
			if s.kind == up.kind {
				s.removeLayer(up)
			}
		}
	}
	r.broadcastPublisher()
}

func (r *Room) slotList() []*slot {
	out := make([]*slot, 0, len(r.slots))
	for _, s := range r.slots {
		out = append(out, s)
	}
	return out
}

// addUpTrack feeds up into the slot of its kind if pub is still the room's publisher; the
// room is live from its publisher's first track.
func (r *Room) addUpTrack(pub *Session, up *UpTrack) bool {
	r.mu.Lock()
	if r.publisher != pub {
		standby := r.standbyTrack(pub, up)
		r.mu.Unlock()
		return standby
	}
	s, stale := r.slotFor(up.kind, up.codec)
	r.mu.Unlock()
	for _, v := range stale {
		v.log.Info("publisher changed codecs; closing viewer so it can renegotiate", "kind", up.kind)
		go v.Close()
	}
	s.addLayer(up)
	r.setLive(pub, true)
	r.broadcastPublisher()
	return true
}

func (r *Room) removeUpTrack(up *UpTrack) {
	r.mu.Lock()
	s := r.slots[up.kind]
	r.mu.Unlock()
	if s != nil {
		s.removeLayer(up)
	}
}

// Info returns the room's public state.
func (r *Room) Info() RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := RoomInfo{Name: r.name, Live: r.live, Viewers: len(r.viewers), Relays: r.nodeRelays(), Tracks: []TrackInfo{}}
	info.Relayed = r.publisher != nil && r.publisher.fromRelay
	if r.live {
		info.Since = r.since
	}
	roomLatencyInfo(&info, r.policy)
	info.Backup = r.backupInfo()
	info.Alternate = r.alternateInfo()
	for _, s := range r.slots {
		t := TrackInfo{Kind: s.kind, Codec: codecName(s.codec.MimeType), Fmtp: s.codec.SDPFmtpLine}
		s.mu.Lock()
		for _, l := range s.layers {
			if l.rid != "" {
				t.Layers = append(t.Layers, l.rid)
			}
		}
		s.mu.Unlock()
		sort.Strings(t.Layers)
		info.Tracks = append(info.Tracks, t)
	}
	sort.Slice(info.Tracks, func(i, j int) bool { return info.Tracks[i].Kind < info.Tracks[j].Kind })
	return info
}

// watch returns a channel of the room's events, starting with its current state.
func (r *Room) watch() (<-chan Event, func()) {
	ch := make(chan Event, watchBuffer)
	r.mu.Lock()
	r.watchers[ch] = struct{}{}
	r.mu.Unlock()
	info := r.Info()
	ch <- Event{Type: "publisher", Data: map[string]any{"live": info.Live, "tracks": info.Tracks}}
	ch <- Event{Type: "viewers", Data: map[string]any{"viewers": info.Viewers}}
	return ch, func() {
		r.mu.Lock()
		delete(r.watchers, ch)
		r.mu.Unlock()
	}
}

func (r *Room) broadcast(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.watchers {
		select {
		case ch <- e:
		default: // a watcher that does not read loses events, never blocks the room
		}
	}
}

func (r *Room) broadcastPublisher() {
	info := r.Info()
	r.broadcast(Event{Type: "publisher", Data: map[string]any{"live": info.Live, "tracks": info.Tracks}})
}

func (r *Room) broadcastViewers() {
	r.mu.Lock()
	n := len(r.viewers)
	r.mu.Unlock()
	r.broadcast(Event{Type: "viewers", Data: map[string]any{"viewers": n}})
}

// codecName is the canonical short name of a codec MIME type, whatever case the
// publisher's SDP used: H264, H265, VP8, VP9, AV1, opus.
func codecName(mimeType string) string {
	switch strings.ToLower(mimeType) {
	case "video/h264":
		return "H264"
	case "video/vp8":
		return "VP8"
	case "video/vp9":
		return "VP9"
	case "video/av1":
		return "AV1"
	case "video/h265":
		return "H265"
	case "audio/opus":
		return "opus"
	}
	_, sub, _ := strings.Cut(mimeType, "/")
	return sub
}
