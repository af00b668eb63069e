package dvr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

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
