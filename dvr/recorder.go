package dvr

import (
	"time"

	"github.com/glint-video/glint/hls"
)

// PartFinished is ignored: the DVR keeps segments (a part's bytes are also in its
// segment's), and the parts of the live edge are served from hls's memory window.
func (l *Library) PartFinished(hls.FinishedPart) {}

// SegmentFinished queues a finished segment for storing, without copying and without
// blocking: when the queue is full the segment is dropped (counted, logged once per
// episode) and the next stored segment of its rendition is marked Gap.
func (l *Library) SegmentFinished(fs hls.FinishedSegment) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	rec, event := l.recordingFor(fs.Room, fs.ProgramDateTime)
	if event != "" {
		defer l.log.Info("dvr: recording "+event, "room", fs.Room, "recording", rec.meta.ID)
	}
	r := rec.rendition(fs.Rendition)
	msn := fs.MSN + r.offset
	if r.queued && msn <= r.lastMSN { // a new stream numbering below a resumed recording's
		r.offset = r.lastMSN + 1 - fs.MSN
		msn = r.lastMSN + 1
	}
	r.lastMSN, r.queued = msn, true
	if fs.InitChanged || r.initKey == "" {
		r.initKey, r.initData = initKey(rec.meta.ID, r.name, fs.InitID), fs.Init
	}
	j := job{rec: rec, rend: r, data: fs.Data, init: r.initData, size: int64(len(fs.Data)), seg: Segment{
		MSN: msn, Key: segmentKey(rec.meta.ID, r.name, msn), InitKey: r.initKey, Bytes: int64(len(fs.Data)),
		Duration: fs.Duration, PDT: fs.ProgramDateTime, Discontinuity: fs.Discontinuity, Gap: r.gapNext,
		Independent: fs.Independent, Timescale: fs.Timescale, DecodeTime: fs.DecodeTime, Ticks: fs.Ticks,
	}}
	if fs.InitChanged {
		j.size += int64(len(fs.Init))
	}
	lane := l.q.lane(rec.meta.ID, r.name)
	if !l.q.push(lane, j) {
		l.mu.Unlock()
		l.dropped(r, fs, "queue full")
		return
	}
	rec.pending++
	r.gapNext = false
	again := r.dropping
	r.dropping = false
	l.mu.Unlock()
	if again {
		l.log.Info("dvr: storing again", "room", fs.Room, "rendition", fs.Rendition, "msn", msn)
	}
}

// dropped counts a segment left out and marks the rendition's next one as a gap; the
// first drop of an episode is logged.
func (l *Library) dropped(r *rendition, fs hls.FinishedSegment, why string) {
	l.stats.drops.Add(1)
	l.mu.Lock()
	r.gapNext = true
	first := !r.dropping
	r.dropping = true
	l.mu.Unlock()
	if first {
		l.log.Warn("dvr: dropping segments", "room", fs.Room, "rendition", fs.Rendition, "msn", fs.MSN, "reason", why)
	}
}

// StreamClosed ends the room's recording: once its queued segments are stored,
// recording.json gets its End.
func (l *Library) StreamClosed(room string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.early, room)
	rec := l.live[room]
	if rec == nil || l.closed {
		return
	}
	delete(l.live, room)
	rec.closing = true
	if rec.pending == 0 {
		l.q.push(l.q.lane(rec.meta.ID, ""), job{rec: rec})
	}
}

// recordingFor returns the room's live recording, starting one (or resuming the one a
// crash interrupted, see the package doc) at the room's first segment; event says which
// ("started", "resumed", or "" for neither). l.mu is held.
func (l *Library) recordingFor(room string, pdt time.Time) (rec *recording, event string) {
	if rec := l.live[room]; rec != nil {
		return rec, ""
	}
	if pdt.IsZero() {
		pdt = l.now()
	}
	rec = l.resumable[room]
	delete(l.resumable, room)
	if rec != nil && !rec.deleted && pdt.Sub(rec.lastEnd()) <= l.opts.ResumeWithin {
		rec.live, rec.meta.End = true, time.Time{}
		rec.metaVer++ // rewritten without End before the next segment is listed
		for _, r := range rec.rends {
			r.gapNext = true
		}
		l.live[room] = rec
		l.adoptEarlyRangesLocked(room, rec, pdt)
		return rec, "resumed"
	}
	start := pdt.UTC().Truncate(time.Millisecond)
	id := newRecordingID(room, start, 1)
	for n := 2; l.recs[id] != nil || l.doomed[id] != nil; n++ {
		id = newRecordingID(room, start, n)
	}
	rec = newRecording(recordingMeta{ID: id, Room: room, Start: start})
	rec.live = true
	l.recs[id] = rec
	l.live[room] = rec
	l.adoptEarlyRangesLocked(room, rec, pdt)
	return rec, "started"
}
