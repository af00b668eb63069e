package dvr

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
)

// Timeshift is the DVR window of live rooms for other packagings of the same segments
// (package dash's MPD): the stored segments of a room's live recording that lead, without a
// break, up to the oldest segment its LL-HLS stream still lists, and their bytes. It reads
// the Catalog and holds no state of its own.
type Timeshift struct {
	catalog Catalog
	window  func(room string) time.Duration
}

// NewTimeshift returns the Timeshift of a catalog; window gives a room's DVR window (0 or
// nil: DefaultWindow).
func NewTimeshift(c Catalog, window func(room string) time.Duration) *Timeshift {
	return &Timeshift{catalog: c, window: window}
}

// junctionSlack is how far two segments' decode times may be apart and still be one
// timeline (the rounding of a media time to ticks, with room).
const junctionSlack = time.Millisecond

// Window returns how far back the room's live recording may be played: its DVR window, or
// 0 when the room has no live recording.
func (ts *Timeshift) Window(room string) time.Duration {
	if _, ok := ts.catalog.Live(room); !ok {
		return 0
	}
	var w time.Duration
	if ts.window != nil {
		w = ts.window(room)
	}
	if w <= 0 {
		w = DefaultWindow
	}
	return w
}

// Before returns the stored segments of live.Rendition in the room's live recording that
// precede live.Segments[0] in one unbroken timeline — consecutive numbers, the same timescale
// and init segment, decode times that meet, no discontinuity or gap in between — and that
// end after decode time from; oldest first. It returns none unless the recording holds
// live.Segments[0] itself (the same number and timing); segments recorded without decode
// times end the timeline.
func (ts *Timeshift) Before(room string, live hls.TrackView, from uint64) []hls.SegmentView {
	rec, ok := ts.catalog.Live(room)
	if !ok || len(live.Segments) == 0 {
		return nil
	}
	segs, err := ts.catalog.Segments(rec.ID, live.Rendition)
	if err != nil {
		return nil
	}
	next := live.Segments[0]
	i := sort.Search(len(segs), func(i int) bool { return segs[i].MSN >= next.MSN })
	// The stored copy of the live window's first segment anchors the numbering: a recording
	// resumed after a crash numbers its segments after the old ones, not as the stream does.
	if i == len(segs) || !sameSegment(segs[i], next, live.Timescale) || segs[i].Discontinuity {
		return nil
	}
	i--
	slack := uint64(max(media.Ticks(junctionSlack, live.Timescale), 1))
	init := initKey(rec.ID, live.Rendition, live.InitID)
	var out []hls.SegmentView
	for ; i >= 0; i-- {
		s := segs[i]
		end := s.DecodeTime + s.Ticks
		if s.MSN+1 != next.MSN || s.Timescale != live.Timescale || s.InitKey != init ||
			s.Ticks == 0 || end+slack < next.Start || end > next.Start+slack || end <= from {
			break
		}
		out = append(out, hls.SegmentView{MSN: s.MSN, Start: s.DecodeTime, Ticks: s.Ticks, ProgramDateTime: s.PDT})
		if s.Discontinuity || s.Gap {
			break // it starts a timeline: what precedes it does not play on
		}
		next = out[len(out)-1]
	}
	for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
		out[l], out[r] = out[r], out[l]
	}
	return out
}

// sameSegment reports whether a stored segment is the stream's segment v: the same
// number, timescale, decode time and duration.
func sameSegment(s Segment, v hls.SegmentView, timescale uint32) bool {
	return s.MSN == v.MSN && s.Timescale == timescale && s.DecodeTime == v.Start && s.Ticks == v.Ticks
}

// ReadSegment returns the stored bytes of segment msn of live.Rendition in the room's live
// recording, as the stream numbers it: only while the recording holds live.Segments[0] under
// its number (a recording resumed after a crash numbers its segments otherwise); an error
// wrapping ErrNotFound when it holds no such segment.
func (ts *Timeshift) ReadSegment(ctx context.Context, room string, live hls.TrackView, msn uint64) ([]byte, error) {
	rec, ok := ts.catalog.Live(room)
	if !ok || len(live.Segments) == 0 {
		return nil, fmt.Errorf("room %s is not live: %w", room, ErrNotFound)
	}
	segs, err := ts.catalog.Segments(rec.ID, live.Rendition)
	if err != nil {
		return nil, err
	}
	find := func(n uint64) (Segment, bool) {
		i := sort.Search(len(segs), func(i int) bool { return segs[i].MSN >= n })
		return segs[min(i, len(segs)-1)], i < len(segs) && segs[i].MSN == n
	}
	if anchor, ok := find(live.Segments[0].MSN); !ok || !sameSegment(anchor, live.Segments[0], live.Timescale) {
		return nil, fmt.Errorf("recording %s rendition %s: not numbered as the stream: %w", rec.ID, live.Rendition, ErrNotFound)
	}
	seg, ok := find(msn)
	if !ok {
		return nil, fmt.Errorf("recording %s rendition %s segment %d: %w", rec.ID, live.Rendition, msn, ErrNotFound)
	}
	return ts.catalog.Read(ctx, seg.Key)
}
