package hls

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A small media playlist reader for the tests: just enough structure to check the rules.
type plPart struct {
	dur         float64
	uri         string
	independent bool
}

type plSegment struct {
	msn      uint64
	uri      string // empty for the segment in progress
	dur      float64
	pdt      time.Time
	disc     bool
	mapURI   string
	parts    []plPart
	complete bool
}

type mediaPL struct {
	text       string
	tags       map[string][]string // every tag's values, in order
	version    int
	target     int
	partTarget float64
	control    map[string]string
	mediaSeq   uint64
	discSeq    uint64
	skipped    int
	segments   []plSegment
	hint       string
	reports    []map[string]string
	endlist    bool
}

func parseMedia(t testing.TB, text string) *mediaPL {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) == 0 || lines[0] != "#EXTM3U" {
		t.Fatalf("playlist does not start with #EXTM3U:\n%s", text)
	}
	pl := &mediaPL{text: text, tags: map[string][]string{}}
	var seg plSegment
	started := false
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, "#") {
			seg.uri, seg.complete = line, true
			seg.msn = pl.mediaSeq + uint64(pl.skipped) + uint64(len(pl.segments))
			pl.segments, seg, started = append(pl.segments, seg), plSegment{}, false
			continue
		}
		name, value, _ := strings.Cut(line[1:], ":")
		pl.tags[name] = append(pl.tags[name], value)
		a := attrs(value)
		switch name {
		case "EXT-X-VERSION":
			pl.version = atoi(t, value)
		case "EXT-X-TARGETDURATION":
			pl.target = atoi(t, value)
		case "EXT-X-PART-INF":
			pl.partTarget = atof(t, a["PART-TARGET"])
		case "EXT-X-SERVER-CONTROL":
			pl.control = a
		case "EXT-X-MEDIA-SEQUENCE":
			pl.mediaSeq = uint64(atoi(t, value))
		case "EXT-X-DISCONTINUITY-SEQUENCE":
			pl.discSeq = uint64(atoi(t, value))
		case "EXT-X-SKIP":
			pl.skipped = atoi(t, a["SKIPPED-SEGMENTS"])
		case "EXT-X-DISCONTINUITY":
			seg.disc, started = true, true
		case "EXT-X-MAP":
			seg.mapURI, started = a["URI"], true
		case "EXT-X-PROGRAM-DATE-TIME":
			pdt, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				t.Fatalf("PROGRAM-DATE-TIME %q: %v", value, err)
			}
			seg.pdt, started = pdt, true
		case "EXT-X-PART":
			seg.parts, started = append(seg.parts, plPart{atof(t, a["DURATION"]), a["URI"], a["INDEPENDENT"] == "YES"}), true
		case "EXTINF":
			seg.dur = atof(t, strings.TrimSuffix(value, ","))
		case "EXT-X-PRELOAD-HINT":
			pl.hint = a["URI"]
		case "EXT-X-RENDITION-REPORT":
			pl.reports = append(pl.reports, a)
		case "EXT-X-ENDLIST":
			pl.endlist = true
		}
	}
	if started {
		seg.msn = pl.mediaSeq + uint64(pl.skipped) + uint64(len(pl.segments))
		pl.segments = append(pl.segments, seg)
	}
	return pl
}

// attrs parses an attribute list (A=1,B="x,y") into its values, quotes removed.
func attrs(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`) + 1
			v, rest = rest[1:end], rest[end+1:]
		} else if i := strings.IndexByte(rest, ','); i >= 0 {
			v, rest = rest[:i], rest[i:]
		} else {
			v, rest = rest, ""
		}
		out[k] = v
		s = strings.TrimPrefix(rest, ",")
	}
	return out
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("integer %q: %v", s, err)
	}
	return n
}

func atof(t testing.TB, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return f
}

// lastComplete returns the last complete segment of a playlist.
func (pl *mediaPL) lastComplete() plSegment {
	for i := len(pl.segments) - 1; i >= 0; i-- {
		if pl.segments[i].complete {
			return pl.segments[i]
		}
	}
	return plSegment{}
}

// hintPos returns the segment and part index the preload hint names.
func (pl *mediaPL) hintPos(t testing.TB) (uint64, int) {
	t.Helper()
	var msn uint64
	var idx int
	if _, err := fmt.Sscanf(pl.hint, "part%d.%d.m4s", &msn, &idx); err != nil {
		t.Fatalf("preload hint %q: %v", pl.hint, err)
	}
	return msn, idx
}

// get does a request against a handler without a network.
func get(h http.Handler, url string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// mustGet does a request that must answer 200 and returns the body.
func mustGet(t testing.TB, h http.Handler, url string) string {
	t.Helper()
	rec := get(h, url)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, rec.Code, body)
	}
	return string(body)
}
