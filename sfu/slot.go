package sfu

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// slot is one kind of media (audio or video) of a room. It outlives publishers: viewers'
// downtracks attach to the slot, and the slot points at whichever uptrack currently feeds
// it, so a publisher's reconnect (or a layer change) is a source switch for the viewers,
// not a new session.
type slot struct {
	kind  string
	codec webrtc.RTPCodecParameters // fixed by the first publisher; same-codec publishers resume

	src atomic.Pointer[UpTrack]

	mu     sync.Mutex
	layers []*UpTrack                   // all uptracks of this kind (simulcast layers)
	sorted atomic.Pointer[[]*UpTrack]   // layers from low to high quality, read without locks
	downs  atomic.Pointer[[]*DownTrack] // copy-on-write, read per packet without locks
	fan    *fanout                      // hands new packets to the viewers (sfu/fanout.go)
	wake   func()                       // the layers' onPacket: fan.wake
}

func newSlot(kind string, codec webrtc.RTPCodecParameters) *slot {
	s := &slot{kind: kind, codec: codec}
	s.downs.Store(&[]*DownTrack{})
	s.sorted.Store(&[]*UpTrack{})
	s.fan = newFanout(s.downtracks, (*DownTrack).fanoutDrain)
	s.wake = s.fan.wake
	return s
}

// wakeAll wakes every downtrack's own goroutine: for what changes the viewers' choices (a
// layer that came or went), not for packets (those go through fan).
func (s *slot) wakeAll() {
	for _, d := range *s.downs.Load() {
		d.wake()
	}
}

// addLayer makes up available and switches the slot to it if it ranks above the current one.
func (s *slot) addLayer(up *UpTrack) {
	s.mu.Lock()
	s.layers = append(s.layers, up)
	s.mu.Unlock()
	up.onPacket.Store(&s.wake)
	s.pickSource()
}

// removeLayer forgets up (its publisher left) and picks another layer if one remains.
func (s *slot) removeLayer(up *UpTrack) {
	up.onPacket.Store(nil)
	s.mu.Lock()
	s.layers = removeFirst(s.layers, up)
	s.mu.Unlock()
	s.pickSource()
}

// pickSource points the slot at its best layer (or none), publishes the layers in order of
// quality for the viewers' own choices, and wakes the downtracks.
func (s *slot) pickSource() {
	s.mu.Lock()
	sorted := append([]*UpTrack(nil), s.layers...)
	s.mu.Unlock()
	sort.SliceStable(sorted, func(i, j int) bool { return layerRank(sorted[i].rid) < layerRank(sorted[j].rid) })
	s.sorted.Store(&sorted)
	var best *UpTrack
	if len(sorted) > 0 {
		best = sorted[len(sorted)-1]
	}
	s.src.Swap(best)
	s.wakeAll()
}

// layersByQuality returns the slot's layers from low to high quality (shared; do not modify).
func (s *slot) layersByQuality() []*UpTrack { return *s.sorted.Load() }

// layerRank orders simulcast rids from low to high quality; a track without rid ranks highest.
func layerRank(rid string) int {
	switch rid {
	case "":
		return 10
	case "h", "f", "hi", "high", "2":
		return 3
	case "m", "mid", "medium", "1":
		return 2
	case "l", "q", "lo", "low", "0":
		return 1
	}
	return 0
}

func (s *slot) attach(d *DownTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.downs.Load()
	next := make([]*DownTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	s.downs.Store(&next)
}

func (s *slot) detach(d *DownTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.downs.Load()
	next := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	s.downs.Store(&next)
}

func (s *slot) downtracks() []*DownTrack { return *s.downs.Load() }

// removeFirst removes the first x from list, in place.
func removeFirst[T comparable](list []T, x T) []T {
	if i := slices.Index(list, x); i >= 0 {
		return slices.Delete(list, i, i+1)
	}
	return list
}
