package dvr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// A live recording never ends by itself (a room that is always on), so retention trims its
// head instead of removing it: the segments that end by a cut time go, the newest
// Options.KeepLive of it never. The rendition's worker does it, in order with the writes.

// planTrimsLocked queues a trim of each live recording over MaxAge, and of those whose
// room or the whole store is still over its byte bound after the ended recordings went
// (excess: bytes to free). l.mu is held.
func (l *Library) planTrimsLocked(now time.Time, excess func(room string) int64) {
	for _, rec := range l.live {
		if rec.holds > 0 || rec.closing {
			continue
		}
		cut := time.Time{}
		if l.opts.MaxAge > 0 {
			cut = now.Add(-l.opts.MaxAge)
		}
		if n := excess(rec.meta.Room); n > 0 {
			cut = latest(cut, rec.cutFreeing(n))
		}
		if keep := rec.lastEnd().Add(-l.opts.KeepLive); cut.After(keep) {
			cut = keep
		}
		if cut.IsZero() || !rec.startsBefore(cut) {
			continue
		}
		for _, r := range rec.rends {
			if l.q.push(l.q.lane(rec.meta.ID, r.name), job{rec: rec, rend: r, trimTo: cut}) {
				rec.pending++
			}
		}
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// startsBefore reports whether a segment of the recording ends by cut.
func (rec *recording) startsBefore(cut time.Time) bool {
	for _, r := range rec.rends {
		if len(r.segs) > 0 && !r.segs[0].End().After(cut) {
			return true
		}
	}
	return false
}

// cutFreeing returns the earliest cut time whose trim frees at least n bytes.
func (rec *recording) cutFreeing(n int64) time.Time {
	var all []Segment
	for _, r := range rec.rends {
		all = append(all, r.segs...)
	}
	slices.SortFunc(all, func(a, b Segment) int { return a.End().Compare(b.End()) })
	var freed int64
	for _, s := range all {
		if freed += s.Bytes; freed >= n {
			return s.End()
		}
	}
	return rec.lastEnd()
}

// trim removes a rendition's segments that end by cut (keeping at least its last one):
// they leave the listing first, then the index is rewritten (temporary file, fsync,
// rename), then their bytes go, so a crash leaves a consistent index. A held recording is
// not trimmed.
func (l *Library) trim(rec *recording, r *rendition, cut time.Time) {
	l.mu.Lock()
	n := 0
	for n < len(r.segs)-1 && !r.segs[n].End().After(cut) {
		n++
	}
	if n == 0 || rec.holds > 0 {
		l.mu.Unlock()
		return
	}
	gone, keep := r.segs[:n:n], slices.Clone(r.segs[n:])
	var freed int64
	var dur time.Duration
	for _, s := range gone {
		freed += s.Bytes
		dur += s.Duration
	}
	// Listed without them at once: a reader that holds the recording from now on never
	// sees a segment whose bytes are about to go.
	r.segs, r.bytes, r.dur = keep, r.bytes-freed, r.dur-dur
	used := map[string]bool{r.initKey: true} // the init segment of the next segments too
	l.mu.Unlock()
	if err := l.rewriteIndex(rec, r, keep); err != nil {
		// The bytes stay: the index still lists them, and the next start lists them again.
		l.log.Warn("dvr: trim", "recording", rec.meta.ID, "rendition", r.name, "err", err)
		return
	}
	ctx := context.WithoutCancel(l.ctx)
	for _, s := range keep {
		used[s.InitKey] = true
	}
	for _, s := range gone {
		_ = l.store.Delete(ctx, s.Key)
		if !used[s.InitKey] && r.inits[s.InitKey] {
			_ = l.store.Delete(ctx, s.InitKey)
			delete(r.inits, s.InitKey)
		}
	}
	l.log.Info("dvr: trimmed a live recording", "recording", rec.meta.ID, "rendition", r.name, "segments", n, "bytes", freed)
}

// rewriteIndex replaces a rendition's index with segs, durably, and drops the appender so
// that the next append reopens it.
func (l *Library) rewriteIndex(rec *recording, r *rendition, segs []Segment) error {
	var buf []byte
	for _, s := range segs {
		line, err := json.Marshal(s)
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	if r.index != nil {
		_ = r.index.Close()
		r.index = nil
	}
	p := l.path(renditionDir(rec.meta.ID, r.name) + "/" + indexFile)
	if err := writeFileDurably(p, buf); err != nil {
		return fmt.Errorf("dvr: rewrite %s: %w", p, diskError(err))
	}
	return nil
}
