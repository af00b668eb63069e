package dvr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Recordings lists the recordings of room ("" for every room) that hold a stored
// segment, newest first.
func (l *Library) Recordings(room string) []Recording {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Recording
	for _, rec := range l.recs {
		if (room == "" || rec.meta.Room == room) && rec.stored() {
			out = append(out, rec.info())
		}
	}
	slices.SortFunc(out, func(a, b Recording) int {
		return cmp.Or(b.Start.Compare(a.Start), strings.Compare(b.ID, a.ID))
	})
	return out
}

// Recording returns one listed recording.
func (l *Library) Recording(id string) (Recording, bool) {
	return l.storedInfo(func() *recording { return l.recs[id] })
}

// Live returns the room's recording in progress once it holds a stored segment.
func (l *Library) Live(room string) (Recording, bool) {
	return l.storedInfo(func() *recording { return l.live[room] })
}

// storedInfo describes the recording that find returns under l.mu, if it holds a stored
// segment.
func (l *Library) storedInfo(find func() *recording) (Recording, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := find()
	if rec == nil || !rec.stored() {
		return Recording{}, false
	}
	return rec.info(), true
}

// Segments returns a rendition's stored segments in order (of a listed recording, or of a
// deleted one that a reader still holds). The slice is shared with the Library (segments
// are only appended after it): callers must not modify it.
func (l *Library) Segments(id, rendition string) ([]Segment, error) {
	if !ValidRecordingID(id) || !renditionName.MatchString(rendition) {
		return nil, fmt.Errorf("%w: recording %q rendition %q", ErrBadID, id, rendition)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.readableLocked(id)
	if rec == nil {
		return nil, fmt.Errorf("recording %s: %w", id, ErrNotFound)
	}
	r := rec.rends[rendition]
	if r == nil || len(r.segs) == 0 {
		return nil, fmt.Errorf("recording %s rendition %s: %w", id, rendition, ErrNotFound)
	}
	return r.segs[:len(r.segs):len(r.segs)], nil
}

// Read returns the bytes of a segment or init segment key of a listed recording, or of a
// deleted one that a reader still holds.
func (l *Library) Read(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	parts := strings.Split(key, "/")
	if len(parts) != 4 || !ValidRecordingID(parts[1]) || roomOf(parts[1]) != parts[0] {
		return nil, fmt.Errorf("%w: key %q is not a segment of a recording", ErrBadID, key)
	}
	l.mu.Lock()
	rec := l.readableLocked(parts[1])
	l.mu.Unlock()
	if rec == nil {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return l.store.Get(ctx, key)
}

// readableLocked returns a listed recording, or a deleted one still held. l.mu is held.
func (l *Library) readableLocked(id string) *recording {
	if rec := l.recs[id]; rec != nil {
		return rec
	}
	if rec := l.doomed[id]; rec != nil && rec.holds > 0 {
		return rec
	}
	return nil
}

// Hold keeps a recording's bytes until release is called (release is idempotent).
func (l *Library) Hold(id string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.recs[id]
	if rec == nil {
		return nil, fmt.Errorf("recording %s: %w", id, ErrNotFound)
	}
	rec.holds++
	var once sync.Once
	return func() { once.Do(func() { l.release(rec) }) }, nil
}

// release ends one hold; the last hold of a deleted recording removes its bytes.
func (l *Library) release(rec *recording) {
	l.mu.Lock()
	rec.holds--
	gone := rec.deleted && rec.holds == 0 && !l.closed // after Close, the next Open removes it
	l.mu.Unlock()
	if gone {
		l.bg.Go(func() { l.removeRecording(context.WithoutCancel(l.ctx), rec) })
	}
}

// Delete removes a recording from the listings at once, and its bytes, index and
// recording.json now or, while it is held, after the last release. A live recording
// cannot be deleted (ErrLive).
func (l *Library) Delete(ctx context.Context, id string) error {
	if !ValidRecordingID(id) {
		return fmt.Errorf("%w: recording %q", ErrBadID, id)
	}
	l.mu.Lock()
	rec := l.recs[id]
	switch {
	case rec == nil:
		l.mu.Unlock()
		return fmt.Errorf("recording %s: %w", id, ErrNotFound)
	case rec.live || rec.closing:
		l.mu.Unlock()
		return fmt.Errorf("recording %s: %w", id, ErrLive)
	}
	l.unlistLocked(rec)
	held := rec.holds > 0
	l.mu.Unlock()
	if err := l.forget(rec); err != nil || held {
		return err
	}
	return l.removeRecording(ctx, rec)
}

// forget removes an unlisted recording's recording.json, so that it stays deleted after a
// crash: the next Open removes a directory without one.
func (l *Library) forget(rec *recording) error {
	p := l.path(recordingDir(rec.meta.ID) + "/" + recordingFile)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dvr: delete %s: %w", rec.meta.ID, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dvr: delete %s: %w", rec.meta.ID, err)
	}
	return nil
}

// unlistLocked takes a recording out of the listings; its bytes stay until removed.
func (l *Library) unlistLocked(rec *recording) {
	rec.deleted = true
	delete(l.recs, rec.meta.ID)
	if l.resumable[rec.meta.Room] == rec {
		delete(l.resumable, rec.meta.Room)
	}
	l.doomed[rec.meta.ID] = rec
}

// recover loads every recording under the index root: torn index tails are cut, a
// recording without End (a crash interrupted it) is closed as Interrupted at its last
// segment's end and becomes its room's resumable recording, and directories without a
// recording.json (a removal cut short, a recording that never stored a segment) are
// removed.
func (l *Library) recover(ctx context.Context) error {
	rooms, err := os.ReadDir(l.root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dvr: recover: %w", err)
	}
	for _, room := range rooms {
		if !room.IsDir() || !keyComponent.MatchString(room.Name()) {
			continue
		}
		recs, err := os.ReadDir(filepath.Join(l.root, room.Name()))
		if err != nil {
			return fmt.Errorf("dvr: recover: %w", err)
		}
		for _, e := range recs {
			if !e.IsDir() || !ValidRecordingID(e.Name()) || roomOf(e.Name()) != room.Name() {
				continue
			}
			if err := l.recoverRecording(ctx, e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// recoverRecording loads one recording directory.
func (l *Library) recoverRecording(ctx context.Context, id string) error {
	dir := recordingDir(id)
	meta, err := readMeta(l.path(dir + "/" + recordingFile))
	if errors.Is(err, fs.ErrNotExist) {
		l.log.Warn("dvr: removing a recording without recording.json", "recording", id)
		return l.removeRecording(ctx, newRecording(recordingMeta{ID: id, Room: roomOf(id)}))
	}
	if err != nil {
		l.log.Error("dvr: recording left out", "recording", id, "err", err)
		return nil
	}
	rec := newRecording(meta)
	rec.metaSaved = rec.metaVer
	if err := l.recoverDateRanges(rec); err != nil {
		return fmt.Errorf("dvr: recover %s: %w", id, err)
	}
	entries, err := os.ReadDir(l.path(dir))
	if err != nil {
		return fmt.Errorf("dvr: recover %s: %w", id, err)
	}
	for _, e := range entries {
		if e.IsDir() && renditionName.MatchString(e.Name()) {
			if err := l.recoverRendition(ctx, rec, e.Name()); err != nil {
				return err
			}
		}
	}
	if !rec.stored() {
		l.log.Info("dvr: removing a recording without segments", "recording", id)
		return l.discard(ctx, rec)
	}
	if rec.meta.End.IsZero() {
		rec.meta.Interrupted, rec.meta.End = true, rec.lastEnd()
		rec.metaVer++
		if err := l.saveMeta(rec); err != nil {
			return fmt.Errorf("dvr: recover %s: %w", id, err)
		}
		if prev := l.resumable[meta.Room]; prev == nil || prev.meta.End.Before(rec.meta.End) {
			l.resumable[meta.Room] = rec
		}
		l.log.Info("dvr: closed a recording a crash interrupted", "recording", id, "end", rec.meta.End)
	}
	l.recs[id] = rec
	return nil
}

// recoverRendition reads a rendition's index, cutting a torn tail: a partial or malformed
// last line, and listed segments at the end whose bytes (or init segment) are missing or
// shorter than listed.
func (l *Library) recoverRendition(ctx context.Context, rec *recording, name string) error {
	idx := l.path(renditionDir(rec.meta.ID, name) + "/" + indexFile)
	removeTempFiles(filepath.Dir(idx))
	segs, ends, size, err := readIndex(idx)
	if err != nil {
		return err
	}
	keep := len(segs)
	for keep > 0 {
		ok, err := l.intact(ctx, segs[keep-1])
		if err != nil {
			return fmt.Errorf("dvr: recover %s/%s: %w", rec.meta.ID, name, err)
		}
		if ok {
			break
		}
		keep--
	}
	good := int64(0)
	if keep > 0 {
		good = ends[keep-1]
	}
	if good < size {
		l.log.Warn("dvr: cutting a torn index tail", "recording", rec.meta.ID, "rendition", name,
			"segments_dropped", len(segs)-keep, "bytes_dropped", size-good)
		if err := truncateIndex(idx, good); err != nil {
			return err
		}
	}
	r := rec.rendition(name)
	r.segs = segs[:keep]
	for _, s := range r.segs {
		r.bytes += s.Bytes
		r.dur += s.Duration
		r.inits[s.InitKey] = true
	}
	if keep > 0 {
		r.lastMSN, r.queued = r.segs[keep-1].MSN, true
	}
	return nil
}

// intact reports whether a segment's bytes and init segment are stored in full.
func (l *Library) intact(ctx context.Context, s Segment) (bool, error) {
	for _, k := range []struct {
		key  string
		size int64
	}{{s.Key, s.Bytes}, {s.InitKey, 1}} {
		n, err := storedSize(ctx, l.store, k.key)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrBadID) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if n < k.size {
			return false, nil
		}
	}
	return true, nil
}

// removeTempFiles removes what a crash left of the disk store's unfinished writes.
func removeTempFiles(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
