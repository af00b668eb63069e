package dvr

import (
	"sync"
	"time"
)

// readerHolds gives the viewers of an ended recording a grace period: each media playlist
// request Holds the recording (one Hold per recording) and keeps the segment list it served
// until ReaderGrace after the last such request. (Live recordings are not held: they cannot
// be deleted, and a Hold would keep retention from trimming their head.) A Delete or retention in between removes the
// recording from listings at once, but its segments stay readable by the players that have
// its playlist, so deleting never cuts a viewer off mid-playback.
type readerHolds struct {
	grace time.Duration
	mu    sync.Mutex
	held  map[string]*readerHold // by recording id
}

type readerHold struct {
	release func()
	timer   *time.Timer
	segs    map[string][]Segment // rendition → the list last served
}

func newReaderHolds(grace time.Duration) *readerHolds {
	return &readerHolds{grace: grace, held: map[string]*readerHold{}}
}

// touch records that rendition's playlist of recording id was served with segs; it takes
// the recording's Hold when none is held (a recording Hold refuses is skipped).
func (rh *readerHolds) touch(c Catalog, id, rendition string, segs []Segment) {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if h, ok := rh.held[id]; ok {
		h.segs[rendition] = segs
		h.timer.Reset(rh.grace)
		return
	}
	release, err := c.Hold(id)
	if err != nil {
		return
	}
	h := &readerHold{release: release, segs: map[string][]Segment{rendition: segs}}
	h.timer = time.AfterFunc(rh.grace, func() { rh.expire(id, h) })
	rh.held[id] = h
}

// expire releases h unless a later touch replaced it.
func (rh *readerHolds) expire(id string, h *readerHold) {
	rh.mu.Lock()
	if rh.held[id] == h {
		delete(rh.held, id)
	}
	rh.mu.Unlock()
	h.release()
}

// segments returns the list last served for a rendition of a recording still held.
func (rh *readerHolds) segments(id, rendition string) ([]Segment, bool) {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	h, ok := rh.held[id]
	if !ok {
		return nil, false
	}
	segs, ok := h.segs[rendition]
	return segs, ok
}

// releaseAll releases every Hold (the Handler closes).
func (rh *readerHolds) releaseAll() {
	rh.mu.Lock()
	all := rh.held
	rh.held = map[string]*readerHold{}
	rh.mu.Unlock()
	for _, h := range all {
		if h.timer.Stop() {
			h.release()
		}
	}
}
