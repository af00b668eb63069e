package dvr

import (
	"slices"
	"sync"
	"time"
)

// recording is one recording's state. Fields are guarded by Library.mu unless noted.
type recording struct {
	meta    recordingMeta
	live    bool // being written: segments still arrive
	closing bool // its stream closed: End is written once pending reaches 0
	pending int  // jobs queued or being written
	holds   int  // Catalog.Hold readers
	deleted bool // gone from listings; the bytes go when holds reaches 0
	rends   map[string]*rendition
	// dateRanges are its stored timed events, by start (replaced, never changed in place:
	// readers keep theirs); rangeIndex appends to dateranges.jsonl (its worker only).
	dateRanges []DateRange
	rangeIndex *indexWriter

	// metaVer counts changes of meta, metaSaved the last one in recording.json; metaMu
	// orders the writes of recording.json by workers of different renditions.
	metaVer, metaSaved uint64
	metaMu             sync.Mutex
}

// rendition is one rendition of a recording.
type rendition struct {
	name  string
	segs  []Segment // durable segments, in order; appended to, or replaced by a trim (readers keep theirs)
	bytes int64     // of segs
	dur   time.Duration

	// Enqueue side (Library.mu): MSNs stay increasing across the streams of a resumed
	// recording, and a dropped segment marks the next one queued.
	offset   uint64
	lastMSN  uint64
	queued   bool // lastMSN is set
	gapNext  bool
	dropping bool   // in a drop episode (logged once)
	initKey  string // the init segment of the last segment queued
	initData []byte

	// Worker side (only the rendition's worker, or finalization once pending is 0).
	index     *indexWriter
	inits     map[string]bool // init keys stored
	workerGap bool            // a segment the worker dropped: the next one stored is a gap
}

func newRecording(meta recordingMeta) *recording {
	return &recording{meta: meta, rends: map[string]*rendition{}, metaVer: 1}
}

func (rec *recording) rendition(name string) *rendition {
	r := rec.rends[name]
	if r == nil {
		r = &rendition{name: name, inits: map[string]bool{}}
		rec.rends[name] = r
	}
	return r
}

// lastEnd is the end of the recording's last stored segment (Start when it has none).
func (rec *recording) lastEnd() time.Time {
	end := rec.meta.Start
	for _, r := range rec.rends {
		if n := len(r.segs); n > 0 && r.segs[n-1].End().After(end) {
			end = r.segs[n-1].End()
		}
	}
	return end
}

// stored reports whether any segment of the recording is durable.
func (rec *recording) stored() bool {
	for _, r := range rec.rends {
		if len(r.segs) > 0 {
			return true
		}
	}
	return false
}

func (rec *recording) bytes() int64 {
	var n int64
	for _, r := range rec.rends {
		n += r.bytes
	}
	return n
}

// info is the recording as the Catalog lists it. Duration is the media stored (the
// longest rendition's segments; gaps are not counted).
func (rec *recording) info() Recording {
	out := Recording{ID: rec.meta.ID, Room: rec.meta.Room, Start: rec.meta.Start, End: rec.meta.End,
		Live: rec.live, Interrupted: rec.meta.Interrupted, Renditions: []string{}}
	for name, r := range rec.rends {
		if len(r.segs) == 0 {
			continue
		}
		out.Renditions = append(out.Renditions, name)
		out.Bytes += r.bytes
		out.Duration = max(out.Duration, r.dur)
	}
	slices.Sort(out.Renditions)
	return out
}

// closeIndexes closes the index files (once nothing is being written).
func (rec *recording) closeIndexes() {
	if rec.rangeIndex != nil {
		_ = rec.rangeIndex.Close()
		rec.rangeIndex = nil
	}
	for _, r := range rec.rends {
		if r.index != nil {
			_ = r.index.Close()
			r.index = nil
		}
	}
}
