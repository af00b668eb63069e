package dvr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// minRetentionGap spaces the retention passes that writes ask for.
const minRetentionGap = time.Second

// askRetention asks for a retention pass without waiting.
func (l *Library) askRetention() {
	select {
	case l.retain <- struct{}{}:
	default:
	}
}

// runRetention runs retention every RetentionInterval and when a write asks (at most once
// a second), until Close.
func (l *Library) runRetention() {
	tick := time.NewTicker(l.opts.RetentionInterval)
	defer tick.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-tick.C:
		case <-l.retain:
		}
		l.retentionPass(l.ctx)
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(minRetentionGap):
		}
	}
}

// retentionPass removes the ended recordings that MaxAge, MaxRoomBytes or MaxBytes
// exclude, oldest first, and trims the head of live ones still over them (trim.go).
// Held recordings are never touched.
func (l *Library) retentionPass(ctx context.Context) {
	l.mu.Lock()
	now := l.now()
	victims, excess := l.pickVictimsLocked(now)
	for _, rec := range victims {
		l.unlistLocked(rec)
	}
	l.planTrimsLocked(now, excess)
	l.mu.Unlock()
	for _, rec := range victims {
		l.log.Info("dvr: retention removes a recording", "recording", rec.meta.ID, "end", rec.meta.End)
		if err := l.discard(ctx, rec); err != nil {
			l.log.Warn("dvr: retention", "recording", rec.meta.ID, "err", err)
		}
	}
}

// pickVictimsLocked returns the recordings retention removes now, and the bytes a room
// is still over its bound (or all rooms over theirs, whichever is more) without them.
// l.mu is held.
func (l *Library) pickVictimsLocked(now time.Time) (victims []*recording, excess func(room string) int64) {
	var all []*recording
	total, perRoom := int64(0), map[string]int64{}
	for _, rec := range l.recs {
		all = append(all, rec)
		total += rec.bytes()
		perRoom[rec.meta.Room] += rec.bytes()
	}
	slices.SortFunc(all, func(a, b *recording) int {
		return cmp.Or(a.meta.Start.Compare(b.meta.Start), cmp.Compare(a.meta.ID, b.meta.ID))
	})
	for _, rec := range all {
		if rec.live || rec.closing || rec.holds > 0 {
			continue
		}
		size, room := rec.bytes(), rec.meta.Room
		tooOld := l.opts.MaxAge > 0 && now.Sub(rec.lastEnd()) > l.opts.MaxAge
		roomOver := l.opts.MaxRoomBytes > 0 && perRoom[room] > l.opts.MaxRoomBytes
		allOver := l.opts.MaxBytes > 0 && total > l.opts.MaxBytes
		if tooOld || roomOver || allOver {
			victims = append(victims, rec)
			total -= size
			perRoom[room] -= size
		}
	}
	return victims, func(room string) int64 {
		var n int64
		if l.opts.MaxRoomBytes > 0 {
			n = perRoom[room] - l.opts.MaxRoomBytes
		}
		if l.opts.MaxBytes > 0 {
			n = max(n, total-l.opts.MaxBytes)
		}
		if n > 0 {
			total -= n // what this room's trim frees counts for the others
		}
		return n
	}
}

// discard deletes an unlisted recording now: forget, then removeRecording.
func (l *Library) discard(ctx context.Context, rec *recording) error {
	if err := l.forget(rec); err != nil {
		return err
	}
	return l.removeRecording(ctx, rec)
}

// removeRecording deletes an unlisted recording (its recording.json already gone, see
// forget): its stored keys, then its local directory.
func (l *Library) removeRecording(ctx context.Context, rec *recording) error {
	id := rec.meta.ID
	dir := recordingDir(id)
	err := l.deleteKeys(ctx, dir+"/")
	if err == nil {
		err = os.RemoveAll(l.path(dir))
		removeEmptyDirs(l.root, l.path(rec.meta.Room))
	}
	l.mu.Lock()
	delete(l.doomed, id)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("dvr: remove recording %s: %w", id, err)
	}
	l.stats.removed.Add(1)
	return nil
}

// deleteKeys deletes every stored key under prefix.
func (l *Library) deleteKeys(ctx context.Context, prefix string) error {
	keys, err := l.store.List(ctx, prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if err := l.store.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
