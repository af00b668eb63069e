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
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.recs[id]
	if rec == nil || !rec.stored() {
		return Recording{}, false
	}
	return rec.info(), true
}

// Live returns the room's recording in progress once it holds a stored segment.
func (l *Library) Live(room string) (Recording, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.live[room]
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
