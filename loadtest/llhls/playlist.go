package llhls

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// errNotHLS is returned for a response that is not an M3U8 playlist.
var errNotHLS = errors.New("not an HLS playlist (no #EXTM3U)")

// variant is one EXT-X-STREAM-INF of a multivariant playlist.
type variant struct {
	uri       string
	bandwidth int
}

// parseMultivariant returns the variants of a multivariant playlist, or ok false when
// body is a media playlist.
func parseMultivariant(body []byte) (vs []variant, ok bool, err error) {
	if !bytes.HasPrefix(bytes.TrimLeft(body, "\ufeff \r\n\t"), []byte("#EXTM3U")) {
		return nil, false, errNotHLS
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	var pending *variant
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			ok = true
			a := attributes(strings.TrimPrefix(line, "#EXT-X-STREAM-INF:"))
			bw, _ := strconv.Atoi(a["BANDWIDTH"])
			pending = &variant{bandwidth: bw}
		case line == "" || strings.HasPrefix(line, "#"):
		case pending != nil:
			pending.uri = line
			vs = append(vs, *pending)
			pending = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, fmt.Errorf("read playlist: %w", err)
	}
	if ok && len(vs) == 0 {
		return nil, true, errors.New("multivariant playlist without variants")
	}
	return vs, ok, nil
}

// pickVariant returns the variant whose URI contains rendition, or the one with the
// highest BANDWIDTH when rendition is empty.
func pickVariant(vs []variant, rendition string) (variant, error) {
	best := -1
	for i, v := range vs {
		switch {
		case rendition != "":
			if strings.Contains(v.uri, rendition) {
				return v, nil
			}
		case best < 0 || v.bandwidth > vs[best].bandwidth:
			best = i
		}
	}
	if best < 0 {
		return variant{}, fmt.Errorf("no variant matches rendition %q", rendition)
	}
	return vs[best], nil
}

// mediaPlaylist is what the viewer needs of an LL-HLS media playlist.
type mediaPlaylist struct {
	partHoldBack time.Duration
	partTarget   time.Duration
	target       time.Duration // EXT-X-TARGETDURATION
	canBlock     bool
	endList      bool
	segments     []segment // in order; the last may be in progress (uri empty)
	hint         string    // EXT-X-PRELOAD-HINT TYPE=PART URI without byte range, or ""
}

// segment is one media segment of a playlist.
type segment struct {
	msn      uint64
	uri      string // empty for the segment in progress
	duration time.Duration
	pdt      time.Time // zero when the playlist gives none
	mapURI   string
	disc     bool // EXT-X-DISCONTINUITY before it
	parts    []part
}

// part is one EXT-X-PART.
type part struct {
	uri         string
	duration    time.Duration
	independent bool
	offset      time.Duration // from the start of its segment
}

// parseMedia parses a media playlist.
func parseMedia(body []byte) (*mediaPlaylist, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(body, "\ufeff \r\n\t"), []byte("#EXTM3U")) {
		return nil, errNotHLS
	}
	pl := &mediaPlaylist{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	var msn uint64
	var cur segment
	var mapURI string
	var lastPDT time.Time
	var lastEnd time.Duration // for segments without their own PDT: previous PDT + durations
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		tag, value, _ := strings.Cut(line, ":")
		switch tag {
		case "#EXT-X-MEDIA-SEQUENCE":
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad EXT-X-MEDIA-SEQUENCE %q", value)
			}
			msn = n
		case "#EXT-X-TARGETDURATION":
			pl.target = seconds(value)
		case "#EXT-X-SKIP":
			n, _ := strconv.ParseUint(attributes(value)["SKIPPED-SEGMENTS"], 10, 64)
			msn += n
		case "#EXT-X-SERVER-CONTROL":
			a := attributes(value)
			pl.canBlock = a["CAN-BLOCK-RELOAD"] == "YES"
			pl.partHoldBack = seconds(a["PART-HOLD-BACK"])
		case "#EXT-X-PART-INF":
			pl.partTarget = seconds(attributes(value)["PART-TARGET"])
		case "#EXT-X-MAP":
			mapURI = attributes(value)["URI"]
		case "#EXT-X-DISCONTINUITY":
			cur.disc = true
		case "#EXT-X-PROGRAM-DATE-TIME":
			if t, err := time.Parse(time.RFC3339Nano, value); err == nil {
				cur.pdt = t
			}
		case "#EXT-X-PART":
			a := attributes(value)
			cur.parts = append(cur.parts, part{uri: a["URI"], duration: seconds(a["DURATION"]),
				independent: a["INDEPENDENT"] == "YES", offset: partsDuration(cur.parts)})
		case "#EXTINF":
			d, _, _ := strings.Cut(value, ",")
			cur.duration = seconds(d)
		case "#EXT-X-PRELOAD-HINT":
			a := attributes(value)
			if a["TYPE"] == "PART" && a["BYTERANGE-START"] == "" {
				pl.hint = a["URI"]
			}
		case "#EXT-X-ENDLIST":
			pl.endList = true
		default:
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			cur.uri = line
			pl.add(&cur, &msn, mapURI, &lastPDT, &lastEnd)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read playlist: %w", err)
	}
	if len(cur.parts) > 0 { // the segment in progress
		cur.duration = partsDuration(cur.parts)
		pl.add(&cur, &msn, mapURI, &lastPDT, &lastEnd)
	}
	return pl, nil
}

// add appends the segment being read and starts the next one.
func (pl *mediaPlaylist) add(cur *segment, msn *uint64, mapURI string, lastPDT *time.Time, lastEnd *time.Duration) {
	cur.msn, cur.mapURI = *msn, mapURI
	switch {
	case !cur.pdt.IsZero():
		*lastPDT, *lastEnd = cur.pdt, 0
	case !lastPDT.IsZero() && !cur.disc:
		cur.pdt = lastPDT.Add(*lastEnd)
	default:
		*lastPDT = time.Time{}
	}
	*lastEnd += cur.duration
	pl.segments = append(pl.segments, *cur)
	*cur = segment{}
	*msn++
}

// edge returns the last segment's number and how many parts it lists, to tell whether a
// reload brought anything new.
func (pl *mediaPlaylist) edge() (msn uint64, parts int, complete bool) {
	if len(pl.segments) == 0 {
		return 0, 0, false
	}
	s := pl.segments[len(pl.segments)-1]
	return s.msn, len(s.parts), s.uri != ""
}

// pollInterval is how long to wait before reloading a playlist that cannot block or did
// not change: half a part, or half a segment without parts.
func (pl *mediaPlaylist) pollInterval() time.Duration {
	if pl.partTarget > 0 {
		return max(pl.partTarget/2, 50*time.Millisecond)
	}
	return max(pl.target/2, 500*time.Millisecond)
}

// find returns the segment with media sequence number msn, or nil.
func (pl *mediaPlaylist) find(msn uint64) *segment {
	if len(pl.segments) == 0 || msn < pl.segments[0].msn {
		return nil
	}
	if i := msn - pl.segments[0].msn; i < uint64(len(pl.segments)) {
		return &pl.segments[i]
	}
	return nil
}

// joinPoint returns where a low-latency player starts: the last independent part that
// begins at least PART-HOLD-BACK before the end of the playlist (the earliest listed one
// when none does), or, in a playlist without parts, the start of the last complete segment.
func (pl *mediaPlaylist) joinPoint() (msn uint64, idx int, ok bool) {
	var end time.Duration
	for _, s := range pl.segments {
		end += s.duration
	}
	var at time.Duration
	for _, s := range pl.segments {
		for i, p := range s.parts {
			if p.independent && (!ok || end-(at+p.offset) >= pl.partHoldBack) {
				msn, idx, ok = s.msn, i, true
			}
		}
		at += s.duration
	}
	if ok {
		return msn, idx, true
	}
	for i := len(pl.segments) - 1; i >= 0; i-- {
		if pl.segments[i].uri != "" {
			return pl.segments[i].msn, 0, true
		}
	}
	return 0, 0, false
}

func partsDuration(ps []part) time.Duration {
	var d time.Duration
	for _, p := range ps {
		d += p.duration
	}
	return d
}

// seconds parses a decimal number of seconds (zero when malformed).
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// attributes parses an attribute list (KEY=VALUE,KEY="quoted, value").
func attributes(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.TrimSpace(k)
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				v, rest = rest[1:], ""
			} else {
				v, rest = rest[1:1+end], rest[2+end:]
			}
			_, rest, _ = strings.Cut(rest, ",")
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		out[k] = v
		s = rest
	}
	return out
}

// resolve returns ref relative to base.
func resolve(base *url.URL, ref string) (*url.URL, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("bad URI %q: %w", ref, err)
	}
	return base.ResolveReference(u), nil
}
