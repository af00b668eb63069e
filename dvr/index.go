package dvr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// recordingMeta is recording.json: what a recording is, apart from its segments.
type recordingMeta struct {
	ID          string    `json:"id"`
	Room        string    `json:"room"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end,omitzero"`
	Interrupted bool      `json:"interrupted,omitempty"`
}

// writeMeta writes recording.json durably.
func writeMeta(path string, m recordingMeta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := writeFileDurably(path, append(data, '\n')); err != nil {
		return fmt.Errorf("dvr: write %s: %w", path, diskError(err))
	}
	return nil
}

// readMeta reads recording.json.
func readMeta(path string) (recordingMeta, error) {
	var m recordingMeta
	data, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("dvr: read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("dvr: %s: %w", path, err)
	}
	if !ValidRecordingID(m.ID) || roomOf(m.ID) != m.Room {
		return m, fmt.Errorf("dvr: %s: %w: recording %q of room %q", path, ErrBadID, m.ID, m.Room)
	}
	return m, nil
}

// readIndex reads an index.jsonl up to its last complete, well-formed line: ends[i] is the
// file offset just after segs[i]'s line. What follows the last (a torn write) is not part
// of the index; size is the file's size.
func readIndex(path string) (segs []Segment, ends []int64, size int64, err error) {
	return readJSONLines(path, func(s Segment, before []Segment) bool {
		return ValidKey(s.Key) && s.Bytes > 0 && (len(before) == 0 || s.MSN > before[len(before)-1].MSN)
	})
}

// readJSONLines reads a JSON-lines file up to its first line that is incomplete, malformed
// or not accepted (given the items before it): ends[i] is the file offset just after
// items[i]'s line; size is the file's size. A missing file is empty.
func readJSONLines[T any](path string, accept func(item T, before []T) bool) (items []T, ends []int64, size int64, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, 0, nil
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("dvr: read %s: %w", path, err)
	}
	var good int64
	for len(data[good:]) > 0 {
		line, _, complete := bytes.Cut(data[good:], []byte{'\n'})
		if !complete {
			break
		}
		var item T
		if json.Unmarshal(line, &item) != nil || !accept(item, items) {
			break
		}
		items = append(items, item)
		good += int64(len(line)) + 1
		ends = append(ends, good)
	}
	return items, ends, int64(len(data)), nil
}

// truncateIndex cuts an index file to size and makes that durable.
func truncateIndex(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("dvr: truncate %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("dvr: truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("dvr: truncate %s: %w", path, err)
	}
	return nil
}

// indexWriter appends JSON lines to an index (a rendition's index.jsonl of Segments, a
// recording's dateranges.jsonl), each made durable before Append returns. It belongs to
// the worker of its rendition (or recording).
type indexWriter struct {
	path string
	f    *os.File
	size int64
}

// openIndex opens (creating) an index for appending.
func openIndex(path string) (*indexWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("dvr: index %s: %w", path, diskError(err))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dvr: index %s: %w", path, diskError(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dvr: index %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("dvr: index %s: %w", path, diskError(err))
	}
	return &indexWriter{path: path, f: f, size: fi.Size()}, nil
}

// Append writes v as one line and fsyncs. On a failure the file is cut back to its size
// before, so that no partial line stays behind.
func (w *indexWriter) Append(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err = w.f.Write(line); err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		_ = w.f.Truncate(w.size)
		return fmt.Errorf("dvr: append %s: %w", w.path, diskError(err))
	}
	w.size += int64(len(line))
	return nil
}

// Close closes the file.
func (w *indexWriter) Close() error { return w.f.Close() }
