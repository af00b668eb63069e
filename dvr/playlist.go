package dvr

import (
	"bytes"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"time"
)

// playlistType is what a media playlist promises a player about its future.
type playlistType int

const (
	// typeWindow is a live sliding window: no EXT-X-PLAYLIST-TYPE, no ENDLIST; segments
	// leave at the front as new ones arrive.
	typeWindow playlistType = iota
	// typeEvent is EXT-X-PLAYLIST-TYPE:EVENT: segments are only added (start-over on a
	// live recording); ENDLIST once the recording ended.
	typeEvent
	// typeVOD is EXT-X-PLAYLIST-TYPE:VOD with EXT-X-ENDLIST: it never changes.
	typeVOD
)

// liveEdgeOffset is how far behind the end of a live window (in target durations) a player
// starts by default: the HOLD-BACK of RFC 8216bis 6.2.2.
const liveEdgeOffset = 3

// mediaPlaylist is a media playlist over stored segments.
type mediaPlaylist struct {
	typ  playlistType
	segs []Segment
	// discSeq is the EXT-X-DISCONTINUITY-SEQUENCE: the discontinuities of the recording
	// before segs[0].
	discSeq int
	// base is the URI prefix of the segments and init segments (relative to the playlist).
	base string
	// start, when not zero, is the wall-clock time EXT-X-START points at (catch-up);
	// startOver puts it at the beginning; otherwise a window starts near its live edge.
	start     time.Time
	startOver bool
	// dateRanges are the recording's timed events, by start: each is listed before the
	// segment that holds its start (or that follows the gap it falls in).
	dateRanges []DateRange
}

// render writes the playlist.
func (p mediaPlaylist) render() []byte {
	var b bytes.Buffer
	b.Grow(128 + 160*len(p.segs))
	target := targetDuration(p.segs)
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:%d\n", target)
	switch p.typ {
	case typeEvent:
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	case typeVOD:
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	if allIndependent(p.segs) {
		b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	}
	if len(p.segs) > 0 {
		fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", p.segs[0].MSN)
	}
	fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", p.discSeq)
	p.writeStart(&b, target)
	var initKey string
	nextRange := 0
	if len(p.segs) > 0 {
		nextRange = firstDateRangeIn(p.dateRanges, p.segs[0].PDT)
	}
	for i, s := range p.segs {
		if i > 0 && (s.Discontinuity || s.Gap) {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.InitKey != initKey {
			b.WriteString("#EXT-X-MAP:URI=\"")
			b.WriteString(p.base)
			b.WriteString(path.Base(s.InitKey))
			b.WriteString("\"\n")
			initKey = s.InitKey
		}
		writeDateRangesBefore(&b, p.dateRanges, &nextRange, s.End())
		b.WriteString("#EXT-X-PROGRAM-DATE-TIME:")
		b.Write(s.PDT.UTC().AppendFormat(b.AvailableBuffer(), "2006-01-02T15:04:05.000Z07:00"))
		b.WriteString("\n#EXTINF:")
		b.Write(strconv.AppendFloat(b.AvailableBuffer(), s.Duration.Seconds(), 'f', 5, 64))
		b.WriteString(",\n")
		b.WriteString(p.base)
		b.WriteString(path.Base(s.Key))
		b.WriteByte('\n')
	}
	if p.typ == typeVOD {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.Bytes()
}

// writeStart writes EXT-X-START: at the catch-up time, at the beginning for start-over and
// EVENT playlists, near the live edge for a window (a VOD starts at its beginning anyway).
func (p mediaPlaylist) writeStart(b *bytes.Buffer, target int) {
	switch {
	case !p.start.IsZero():
		off, _ := offsetAt(p.segs, p.start)
		fmt.Fprintf(b, "#EXT-X-START:TIME-OFFSET=%s,PRECISE=YES\n", secondsString(off))
	case p.startOver || p.typ == typeEvent: // an event is watched from its beginning
		b.WriteString("#EXT-X-START:TIME-OFFSET=0\n")
	case p.typ == typeWindow:
		fmt.Fprintf(b, "#EXT-X-START:TIME-OFFSET=-%d\n", liveEdgeOffset*target)
	}
}

// allIndependent reports whether every segment starts with a keyframe.
func allIndependent(segs []Segment) bool {
	for _, s := range segs {
		if !s.Independent {
			return false
		}
	}
	return true
}

// targetDuration is EXT-X-TARGETDURATION: the longest segment rounded to whole seconds.
func targetDuration(segs []Segment) int {
	var longest time.Duration
	for _, s := range segs {
		longest = max(longest, s.Duration)
	}
	return max(1, int(math.Round(longest.Seconds())))
}

// offsetAt returns the playlist time (the durations of the segments before it, so gaps in
// wall-clock time do not count) of wall-clock time t; a t inside a gap maps to the start of
// the next segment. ok is false when t is before the first segment or after the last.
func offsetAt(segs []Segment, t time.Time) (off time.Duration, ok bool) {
	if len(segs) == 0 || t.Before(segs[0].PDT) || t.After(segs[len(segs)-1].End()) {
		return 0, false
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].End().After(t) })
	for _, s := range segs[:i] {
		off += s.Duration
	}
	if i < len(segs) && t.After(segs[i].PDT) {
		off += t.Sub(segs[i].PDT)
	}
	return off, true
}

// windowFrom returns the index of the first segment of a window of length window ending at
// the last segment's end.
func windowFrom(segs []Segment, window time.Duration) int {
	if len(segs) == 0 {
		return 0
	}
	from := segs[len(segs)-1].End().Add(-window)
	return sort.Search(len(segs), func(i int) bool { return segs[i].End().After(from) })
}

// coveringRange returns the segments that overlap the wall-clock range [from, to).
func coveringRange(segs []Segment, from, to time.Time) []Segment {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].End().After(from) })
	j := sort.Search(len(segs), func(j int) bool { return !segs[j].PDT.Before(to) })
	if i >= j {
		return nil
	}
	return segs[i:j]
}

// discontinuitiesBefore counts the discontinuities (and gaps) among segs[1:n].
func discontinuitiesBefore(segs []Segment, n int) int {
	count := 0
	for i := 1; i < n && i < len(segs); i++ {
		if segs[i].Discontinuity || segs[i].Gap {
			count++
		}
	}
	return count
}

// secondsString formats a duration as decimal seconds, millisecond precision.
func secondsString(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64)
}
