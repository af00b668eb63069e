package dvr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// work is one worker: it stores its lane's jobs in order until the queue is closed and
// the lane empty, or the Library's context ends.
func (l *Library) work(lane int) {
	for {
		j, ok := l.q.pop(lane, l.ctx.Done())
		if !ok {
			return
		}
		switch {
		case j.isSegment():
			l.store1(j)
			l.q.done(j)
		case j.rend != nil:
			l.trim(j.rec, j.rend, j.trimTo)
		case j.dateRange != nil:
			l.storeDateRange(j.rec, *j.dateRange)
		}
		l.mu.Lock()
		if j.rend != nil || j.dateRange != nil {
			j.rec.pending--
		}
		finalize := j.rec.closing && j.rec.pending == 0
		l.mu.Unlock()
		if finalize {
			l.finalize(j.rec)
		}
	}
}

// store1 stores one segment: recording.json if it changed, the init segment once per key,
// the segment, then its index line; only then is it listed. A failure drops it, and the
// rendition's next stored segment is a gap.
func (l *Library) store1(j job) {
	r, seg := j.rend, j.seg
	err := l.saveMeta(j.rec)
	if err == nil && !r.inits[seg.InitKey] {
		if err = l.put(seg.InitKey, j.init); err == nil {
			r.inits[seg.InitKey] = true
		}
	}
	if err == nil {
		err = l.put(seg.Key, j.data)
	}
	if err == nil {
		err = l.appendIndex(j.rec, r, &seg)
	}
	if err != nil {
		l.stats.drops.Add(1)
		r.workerGap = true
		l.log.Warn("dvr: segment dropped", "recording", j.rec.meta.ID, "rendition", r.name, "msn", seg.MSN, "err", err)
		return
	}
	l.stats.bytesStored.Add(seg.Bytes)
	l.mu.Lock()
	r.segs = append(r.segs, seg)
	r.bytes += seg.Bytes
	r.dur += seg.Duration
	l.mu.Unlock()
	l.askRetention()
}

// appendIndex appends seg (marked Gap after a drop) to its rendition's index.
func (l *Library) appendIndex(rec *recording, r *rendition, seg *Segment) error {
	if r.index == nil {
		w, err := openIndex(l.path(renditionDir(rec.meta.ID, r.name) + "/" + indexFile))
		if err != nil {
			return err
		}
		r.index = w
	}
	seg.Gap = seg.Gap || r.workerGap
	if err := r.index.Append(*seg); err != nil {
		l.noteStoreError(err)
		return err
	}
	r.workerGap = false
	return nil
}

// put writes to the store, retrying with backoff; ErrBadID is not retried.
func (l *Library) put(key string, data []byte) error {
	backoff := l.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := l.store.Put(l.ctx, key, data)
		if err == nil {
			l.stats.full.Store(false)
			return nil
		}
		l.noteStoreError(err)
		if errors.Is(err, ErrBadID) || attempt >= l.opts.StoreRetries {
			return err
		}
		select {
		case <-l.ctx.Done():
			return fmt.Errorf("%w (%w)", err, l.ctx.Err())
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// noteStoreError counts a store error; a full store raises the alert and asks retention
// to make room.
func (l *Library) noteStoreError(err error) {
	l.stats.storeErrors.Add(1)
	if errors.Is(err, ErrStoreFull) {
		if !l.stats.full.Swap(true) {
			l.log.Error("dvr: store full: segments are being dropped (live viewers are not affected)", "err", err)
		}
		l.askRetention()
	}
}

// saveMeta writes recording.json when it changed since it was last written.
func (l *Library) saveMeta(rec *recording) error {
	rec.metaMu.Lock()
	defer rec.metaMu.Unlock()
	l.mu.Lock()
	ver, saved, meta := rec.metaVer, rec.metaSaved, rec.meta
	l.mu.Unlock()
	if ver == saved {
		return nil
	}
	if err := writeMeta(l.path(recordingDir(meta.ID)+"/"+recordingFile), meta); err != nil {
		l.noteStoreError(err)
		return err
	}
	l.mu.Lock()
	rec.metaSaved = ver
	l.mu.Unlock()
	return nil
}

// finalize ends a recording whose stream closed, once nothing of it is queued: End is its
// last segment's end. A recording with no segment stored is removed.
func (l *Library) finalize(rec *recording) {
	l.mu.Lock()
	if !rec.closing || rec.pending > 0 {
		l.mu.Unlock()
		return
	}
	rec.closing, rec.live = false, false
	empty := !rec.stored()
	if !empty {
		rec.meta.End = rec.lastEnd()
		rec.metaVer++
	}
	rec.closeIndexes()
	if empty {
		delete(l.recs, rec.meta.ID)
	}
	size := rec.bytes()
	l.mu.Unlock()
	if empty {
		_ = l.discard(context.WithoutCancel(l.ctx), rec)
		return
	}
	if err := l.saveMeta(rec); err != nil {
		l.log.Error("dvr: recording not closed on disk (the next start closes it)", "recording", rec.meta.ID, "err", err)
		return
	}
	l.log.Info("dvr: recording ended", "room", rec.meta.Room, "recording", rec.meta.ID, "bytes", size)
}
