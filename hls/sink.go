package hls

import "time"

// SegmentSink is told of every part and segment a Stream finishes, in order per rendition,
// with the bytes the HTTP server serves for them: the input of a recorder (the DVR).
//
// Contract: the methods are called on the goroutine writing the rendition's samples
// (Track.WriteSample, Track.Discontinuity, Stream.Close), with the rendition locked, right
// after the part or segment became servable. They must return quickly and must not call
// into the Stream or its Tracks: a sink that is slow delays that rendition's next parts for
// every viewer, so a sink that stores or uploads hands the work to its own bounded queue and
// returns (and decides itself what to drop when its queue is full). The byte slices are
// never modified afterwards: a sink may keep them without copying.
type SegmentSink interface {
	// PartFinished is called for each part, when it is published.
	PartFinished(FinishedPart)
	// SegmentFinished is called for each segment, when its last part is published.
	SegmentFinished(FinishedSegment)
	// StreamClosed is called once, when the Stream is closed (every playlist ended).
	StreamClosed(room string)
}

// FinishedPart is one published part (a moof+mdat fragment) of a segment.
type FinishedPart struct {
	Room, Rendition string
	MSN             uint64 // the media sequence number of its segment
	Index           int    // its index within the segment, from 0
	Data            []byte
	Duration        time.Duration
	Independent     bool // starts with a sync sample (a keyframe, or audio)
}

// FinishedSegment is one complete segment: its parts concatenated.
type FinishedSegment struct {
	Room, Rendition string
	MSN             uint64
	Data            []byte
	Parts           int
	Duration        time.Duration
	// Start is the media time (the fMP4 decode time) of its first sample.
	Start time.Duration
	// Timescale, DecodeTime and Ticks are Start and Duration exactly, in the track's
	// timescale: DecodeTime is its first fragment's tfdt (baseMediaDecodeTime), Ticks the sum
	// of its samples' durations (what an MPD's SegmentTimeline lists).
	Timescale         uint32
	DecodeTime, Ticks uint64
	// ProgramDateTime is its EXT-X-PROGRAM-DATE-TIME: the wall-clock capture time of its
	// first sample.
	ProgramDateTime time.Time
	Independent     bool // starts with a keyframe (video cut at its longest may not)
	// Discontinuity marks an EXT-X-DISCONTINUITY before it (a new source or encoding);
	// DiscontinuitySequence is its EXT-X-DISCONTINUITY-SEQUENCE.
	Discontinuity         bool
	DiscontinuitySequence uint64
	// InitID and Init are the init segment it plays with (served as init{InitID}.mp4);
	// InitChanged is true for the rendition's first segment and whenever that changes.
	InitID      uint64
	Init        []byte
	InitChanged bool
}

// DateRangeSink is a SegmentSink that also keeps the Stream's timed events: a Stream whose
// sink implements it tells it of each date range added (Stream.AddDateRange), once, on the
// adding goroutine, after the range is listed. Like the other methods, it must return at once
// and must not call into the Stream; dr.Data is never modified afterwards.
type DateRangeSink interface {
	DateRangeAdded(room string, dr DateRange)
}

// tellDateRange tells the Stream's sink of a date range just added, if it keeps them.
func (s *Stream) tellDateRange(dr DateRange) {
	if sink, ok := s.cfg.Sink.(DateRangeSink); ok {
		sink.DateRangeAdded(s.name, dr)
	}
}

// SinkFuncs is a SegmentSink of functions; a nil field ignores its event.
type SinkFuncs struct {
	Part    func(FinishedPart)
	Segment func(FinishedSegment)
	Closed  func(room string)
}

// PartFinished calls f.Part.
func (f SinkFuncs) PartFinished(p FinishedPart) {
	if f.Part != nil {
		f.Part(p)
	}
}

// SegmentFinished calls f.Segment.
func (f SinkFuncs) SegmentFinished(s FinishedSegment) {
	if f.Segment != nil {
		f.Segment(s)
	}
}

// StreamClosed calls f.Closed.
func (f SinkFuncs) StreamClosed(room string) {
	if f.Closed != nil {
		f.Closed(room)
	}
}

// tellPart tells the Stream's sink of the part just appended to seg.
func (t *Track) tellPart(seg *segment) {
	sink := t.s.cfg.Sink
	if sink == nil {
		return
	}
	i := len(seg.parts) - 1
	p := seg.parts[i]
	sink.PartFinished(FinishedPart{
		Room: t.s.name, Rendition: t.rendition, MSN: seg.msn, Index: i, Data: p.data,
		Duration: ticksDur(p.ticks, t.timescale), Independent: p.independent,
	})
}

// tellSegment tells the Stream's sink of a completed segment; prevInit is the init segment
// of the rendition's previous segment (nil for its first).
func (t *Track) tellSegment(seg *segment, prevInit *initSection) {
	sink := t.s.cfg.Sink
	if sink == nil {
		return
	}
	sink.SegmentFinished(FinishedSegment{
		Room: t.s.name, Rendition: t.rendition, MSN: seg.msn, Data: seg.data, Parts: len(seg.parts),
		Duration: ticksDur(seg.ticks, t.timescale), Start: seg.start, ProgramDateTime: seg.pdt,
		Timescale: t.timescale, DecodeTime: toTicks(seg.start, t.timescale), Ticks: seg.ticks,
		Independent: seg.parts[0].independent, Discontinuity: seg.disc, DiscontinuitySequence: seg.dseq,
		InitID: seg.init.id, Init: seg.init.data, InitChanged: seg.init != prevInit,
	})
}
