package dvr

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/glint-video/glint/hls"
)

// DateRange is a timed event of a recording (an hls.DateRange the live stream listed as
// EXT-X-DATERANGE): kept with the recording in {room}/{recording}/dateranges.jsonl, one per
// line, and listed again in every playlist of the recording before the segment that holds
// its start.
type DateRange struct {
	ID    string    `json:"id"`
	Class string    `json:"class"`
	Value string    `json:"value,omitempty"`
	Start time.Time `json:"start"` // on the PROGRAM-DATE-TIME scale (a capture time)
	Data  []byte    `json:"data,omitempty"`
}

// maxEarlyRanges bounds the timed events a room may receive before its recording starts.
const maxEarlyRanges = 256

var _ hls.DateRangeSink = (*Library)(nil)

// DateRangeAdded queues a live room's timed event to be stored with its recording, without
// blocking. One that comes before the room's first segment waits for the recording that
// segment starts.
func (l *Library) DateRangeAdded(room string, dr hls.DateRange) {
	d := DateRange{ID: dr.ID, Class: dr.Class, Value: dr.Value, Start: dr.Start.UTC(), Data: dr.Data}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if rec := l.live[room]; rec != nil {
		l.queueDateRangeLocked(rec, d)
		return
	}
	if len(l.early[room]) < maxEarlyRanges {
		l.early[room] = append(l.early[room], d)
	}
}

// adoptEarlyRangesLocked queues the room's timed events that came before rec's first
// segment (one starting at pdt); older ones (left from a stream before) are dropped.
func (l *Library) adoptEarlyRangesLocked(room string, rec *recording, pdt time.Time) {
	for _, d := range l.early[room] {
		if !d.Start.Before(pdt) {
			l.queueDateRangeLocked(rec, d)
		}
	}
	delete(l.early, room)
}

// queueDateRangeLocked hands a timed event to the recording's worker (l.mu held).
func (l *Library) queueDateRangeLocked(rec *recording, d DateRange) {
	if l.q.push(l.q.lane(rec.meta.ID, ""), job{rec: rec, dateRange: &d}) {
		rec.pending++
	}
}

// storeDateRange appends a timed event to its recording's dateranges.jsonl (fsynced), then
// lists it. Run by the recording's worker.
func (l *Library) storeDateRange(rec *recording, d DateRange) {
	err := l.saveMeta(rec)
	if err == nil && rec.rangeIndex == nil {
		rec.rangeIndex, err = openIndex(l.path(recordingDir(rec.meta.ID) + "/" + dateRangesFile))
	}
	if err == nil {
		if err = rec.rangeIndex.Append(d); err != nil {
			l.noteStoreError(err)
		}
	}
	if err != nil {
		l.stats.drops.Add(1)
		l.log.Warn("dvr: timed event not recorded", "recording", rec.meta.ID, "event", d.ID, "err", err)
		return
	}
	l.mu.Lock()
	rec.dateRanges = insertDateRange(rec.dateRanges, d)
	l.mu.Unlock()
}

// insertDateRange returns drs with d inserted by start, in a new array (readers keep the
// slice they were given).
func insertDateRange(drs []DateRange, d DateRange) []DateRange {
	i, _ := slices.BinarySearchFunc(drs, d, func(a, b DateRange) int { return a.Start.Compare(b.Start) })
	return slices.Insert(slices.Clip(drs), i, d)
}

// DateRanges returns the timed events of a recording, by start (ErrNotFound for an unknown
// recording).
func (l *Library) DateRanges(id string) ([]DateRange, error) {
	if !ValidRecordingID(id) {
		return nil, fmt.Errorf("%w: recording %q", ErrBadID, id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.readableLocked(id)
	if rec == nil {
		return nil, fmt.Errorf("recording %s: %w", id, ErrNotFound)
	}
	return slices.Clip(rec.dateRanges), nil
}

// recoverDateRanges reads a recording's dateranges.jsonl, cutting a torn tail.
func (l *Library) recoverDateRanges(rec *recording) error {
	path := l.path(recordingDir(rec.meta.ID) + "/" + dateRangesFile)
	drs, ends, size, err := readJSONLines(path, func(d DateRange, _ []DateRange) bool {
		return d.ID != "" && d.Class != "" && !d.Start.IsZero()
	})
	if err != nil {
		return err
	}
	if good := lastEnd(ends); good < size {
		l.log.Warn("dvr: cutting a torn timed-event tail", "recording", rec.meta.ID, "bytes_dropped", size-good)
		if err := truncateIndex(path, good); err != nil {
			return err
		}
	}
	slices.SortStableFunc(drs, func(a, b DateRange) int { return a.Start.Compare(b.Start) })
	rec.dateRanges = drs
	return nil
}

// lastEnd is the offset after the last good line (0 for none).
func lastEnd(ends []int64) int64 {
	if len(ends) == 0 {
		return 0
	}
	return ends[len(ends)-1]
}

// writeDateRangesBefore writes the EXT-X-DATERANGE tags of drs[*next:] that start before
// end, advancing *next: the events of the segment ending at end (or of a gap before it).
func writeDateRangesBefore(b *bytes.Buffer, drs []DateRange, next *int, end time.Time) {
	for ; *next < len(drs) && drs[*next].Start.Before(end); *next++ {
		d := drs[*next]
		hls.WriteDateRange(b, hls.DateRange{ID: d.ID, Class: d.Class, Value: d.Value, Start: d.Start, Data: d.Data})
	}
}

// firstDateRangeIn is the index of the first of drs that starts at from or later.
func firstDateRangeIn(drs []DateRange, from time.Time) int {
	i, _ := slices.BinarySearchFunc(drs, from, func(d DateRange, t time.Time) int { return d.Start.Compare(t) })
	return i
}
