package hls

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// DateRange is a timed event of a Stream. It is listed as EXT-X-DATERANGE in every media
// playlist while the segment holding its start is listed, and written as an emsg box
// (version 1) into the first part of every rendition that reaches its start.
//
// Start is on the PROGRAM-DATE-TIME scale (a capture time). Class is the DATERANGE CLASS and
// the emsg scheme_id_uri; Value is the emsg value; Data (at most MaxDateRangeData bytes) is
// the emsg message_data and, base64-encoded, the X-GLINT-PAYLOAD attribute.
type DateRange struct {
	ID    string
	Class string
	Value string
	Start time.Time
	Data  []byte
}

// MaxDateRangeData bounds a DateRange's Data.
const MaxDateRangeData = 16 << 10

// pendingMark is a DateRange waiting for the part of a track that reaches its start.
type pendingMark struct {
	DateRange
	emsgID uint32
}

// AddDateRange adds a timed event to every rendition of the Stream. It fails on an ID or
// Class that cannot be a quoted-string (RFC 8216 §4.2: no CR, LF or '"') or a duplicate ID.
func (s *Stream) AddDateRange(dr DateRange) error {
	for name, v := range map[string]string{"ID": dr.ID, "Class": dr.Class, "Value": dr.Value} {
		if (v == "" && name != "Value") || strings.ContainsAny(v, "\"\r\n\x00") || len(v) > 256 {
			return fmt.Errorf("hls %s: date range %s %.40q: want 1-256 characters without quotes, CR, LF or NUL", s.name, name, v)
		}
	}
	if len(dr.Data) > MaxDateRangeData || dr.Start.IsZero() {
		return fmt.Errorf("hls %s: date range %s: a start time and at most %d bytes of data are needed", s.name, dr.ID, MaxDateRangeData)
	}
	dr.Data = bytes.Clone(dr.Data)
	s.mu.Lock()
	if slices.ContainsFunc(s.dateRanges, func(o DateRange) bool { return o.ID == dr.ID }) {
		s.mu.Unlock()
		return fmt.Errorf("hls %s: date range %s: duplicate ID", s.name, dr.ID)
	}
	keep := time.Now().Add(-2 * time.Duration(s.cfg.Window) * s.maxSegment)
	s.dateRanges = slices.DeleteFunc(s.dateRanges, func(o DateRange) bool { return o.Start.Before(keep) })
	i, _ := slices.BinarySearchFunc(s.dateRanges, dr, func(a, b DateRange) int { return a.Start.Compare(b.Start) })
	s.dateRanges = slices.Insert(s.dateRanges, i, dr)
	tracks := s.tracksLocked()
	s.mu.Unlock()
	mark := pendingMark{DateRange: dr, emsgID: crc32.ChecksumIEEE([]byte(dr.ID))}
	for _, t := range tracks {
		t.mu.Lock()
		if !t.ended {
			t.marks = append(t.marks, mark)
			t.version++ // re-render the playlist: it lists the new date range
		}
		t.mu.Unlock()
	}
	s.tellDateRange(dr)
	return nil
}

// dateRangesSnapshot returns the Stream's date ranges, by start.
func (s *Stream) dateRangesSnapshot() []DateRange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dateRanges)
}

// mediaAtWall maps a PROGRAM-DATE-TIME instant to media time, the inverse of
// programDateTime's current anchor (false before the first anchor).
func (s *Stream) mediaAtWall(wall time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.clock
	return c.anchorMedia + wall.Sub(c.anchorWall), c.haveAnchor
}

// takeMarks removes and returns, as encoded emsg boxes, the track's pending marks whose
// start falls before the end of the part being closed (media ticks partEnd): that part
// holds their frame, or they came late and go into the next part out.
func (t *Track) takeMarks(partEnd uint64) []byte {
	if len(t.marks) == 0 {
		return nil
	}
	var out bytes.Buffer
	kept := t.marks[:0]
	for _, m := range t.marks {
		media, ok := t.s.mediaAtWall(m.Start)
		at := toTicks(media, t.timescale)
		if !ok || at >= partEnd {
			kept = append(kept, m)
			continue
		}
		box := &mp4.EmsgBox{Version: 1, TimeScale: t.timescale, PresentationTime: at, EventDuration: 0xFFFFFFFF,
			ID: m.emsgID, SchemeIDURI: m.Class, Value: m.Value, MessageData: m.Data}
		if err := box.Encode(&out); err != nil {
			t.log.Error("hls: emsg box dropped", "id", m.ID, "err", err)
		}
	}
	clear(t.marks[len(kept):])
	t.marks = kept
	return out.Bytes()
}

// writeDateRanges writes the EXT-X-DATERANGE tags of the ranges starting in [from, to).
func writeDateRanges(b *bytes.Buffer, drs []DateRange, from, to time.Time) {
	for _, dr := range drs {
		if !dr.Start.Before(from) && dr.Start.Before(to) {
			WriteDateRange(b, dr)
		}
	}
}

// WriteDateRange writes dr's EXT-X-DATERANGE tag (and its line end): ID, CLASS, START-DATE
// and the data as X-GLINT-PAYLOAD (base64), as live playlists list it.
func WriteDateRange(b *bytes.Buffer, dr DateRange) {
	fmt.Fprintf(b, "#EXT-X-DATERANGE:ID=\"%s\",CLASS=\"%s\",START-DATE=\"%s\"", dr.ID, dr.Class,
		dr.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	if len(dr.Data) > 0 {
		fmt.Fprintf(b, ",X-GLINT-PAYLOAD=\"%s\"", base64.StdEncoding.EncodeToString(dr.Data))
	}
	b.WriteByte('\n')
}
