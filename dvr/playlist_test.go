package dvr

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parsedPlaylist is what a test reads back from a media playlist.
type parsedPlaylist struct {
	text      string
	tags      map[string][]string // tag → values, in order
	segments  []parsedSegment
	endList   bool
	startTime float64 // EXT-X-START TIME-OFFSET
	hasStart  bool
}

type parsedSegment struct {
	uri, mapURI string
	dur         float64
	pdt         time.Time
	disc        bool
}

// parsePlaylist reads a media playlist, failing on any segment without PDT or map.
func parsePlaylist(t testing.TB, text string) parsedPlaylist {
	t.Helper()
	p := parsedPlaylist{text: text, tags: map[string][]string{}}
	var cur parsedSegment
	var mapURI string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			cur.uri, cur.mapURI = line, mapURI
			if cur.pdt.IsZero() || mapURI == "" {
				t.Fatalf("segment %s has no PDT or map:\n%s", line, text)
			}
			p.segments = append(p.segments, cur)
			cur = parsedSegment{}
			continue
		}
		tag, value, _ := strings.Cut(line, ":")
		p.tags[tag] = append(p.tags[tag], value)
		switch tag {
		case "#EXT-X-ENDLIST":
			p.endList = true
		case "#EXT-X-DISCONTINUITY":
			cur.disc = true
		case "#EXT-X-MAP":
			mapURI = strings.Trim(strings.TrimPrefix(value, "URI="), `"`)
		case "#EXT-X-PROGRAM-DATE-TIME":
			pdt, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				t.Fatalf("PDT %q: %v", value, err)
			}
			cur.pdt = pdt
		case "#EXTINF":
			cur.dur, _ = strconv.ParseFloat(strings.TrimSuffix(value, ","), 64)
		case "#EXT-X-START":
			off, _, _ := strings.Cut(strings.TrimPrefix(value, "TIME-OFFSET="), ",")
			p.startTime, _ = strconv.ParseFloat(off, 64)
			p.hasStart = true
		}
	}
	return p
}

func (p parsedPlaylist) tag(name string) string {
	if v := p.tags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (p parsedPlaylist) duration() float64 {
	total := 0.0
	for _, s := range p.segments {
		total += s.dur
	}
	return total
}

// get fetches a URL of the test server, failing unless it answers want.
func get(t testing.TB, url string, want int) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, strings.TrimSpace(string(body)), want)
	}
	return string(body), resp.Header
}

// dvrFixture is a Handler over a room "room1" with an ended recording (60 s, then a
// reconnect after a 10 s pause, then 20 s) and a live one (40 s so far, window 20 s).
type dvrFixture struct {
	dir        string
	cat        *Library
	h          *Handler
	srv        *httptest.Server
	ended      *testRecording
	live       *testRecording
	endedStart time.Time
	liveStart  time.Time
}

func newFixture(t testing.TB) *dvrFixture {
	t.Helper()
	f := &dvrFixture{dir: t.TempDir(),
		endedStart: time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC), liveStart: time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)}
	f.cat = openLib(t, f.dir, Options{})
	f.ended = startRecording(t, f.cat, "room1", f.endedStart)
	f.ended.feed(t, 60*time.Second)
	f.ended.reconnect(t, 10*time.Second)
	f.ended.feed(t, 20*time.Second)
	f.ended.end()
	f.live = startRecording(t, f.cat, "room1", f.liveStart)
	f.live.feed(t, 40*time.Second)
	t.Cleanup(f.live.end)
	waitDrained(t, f.cat)
	f.h = NewHandler(HandlerOptions{Catalog: f.cat, Log: quietLog(), ClipDir: t.TempDir(), MaxClip: time.Minute,
		Window: func(string) time.Duration { return 20 * time.Second }})
	mux := http.NewServeMux()
	f.h.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return f
}

// TestMediaPlaylists checks the tags of every kind of media playlist the Handler writes.
func TestMediaPlaylists(t *testing.T) {
	f := newFixture(t)
	liveSegs, _ := f.cat.Segments(f.live.id, "hi")
	endedSegs, _ := f.cat.Segments(f.ended.id, "hi")
	windowStart := liveSegs[len(liveSegs)-10].PDT
	catchUp := f.liveStart.Add(30 * time.Second).Sub(windowStart).Seconds()
	cases := []struct {
		name, path   string
		typ          string // EXT-X-PLAYLIST-TYPE
		endList      bool
		first        uint64 // EXT-X-MEDIA-SEQUENCE
		minDur       float64
		maxDur       float64
		start        float64 // EXT-X-START TIME-OFFSET
		discs        int
		segURIPrefix string
	}{
		{"window", "/dvr/room1/hi.m3u8", "", false, liveSegs[len(liveSegs)-10].MSN, 19.9, 22.1, -6, 0, "../recordings/" + f.live.id + "/hi/seg-"},
		{"start over", "/dvr/room1/hi.m3u8?start=over", "EVENT", false, liveSegs[0].MSN, 37.9, 40.1, 0, 0, "../recordings/" + f.live.id + "/hi/seg-"},
		{"catch-up in window", "/dvr/room1/hi.m3u8?t=2026-12-05T21:00:30Z", "", false, liveSegs[len(liveSegs)-10].MSN, 19.9, 22.1, catchUp, 0, "../recordings/"},
		{"live recording", "/dvr/recordings/" + f.live.id + "/hi.m3u8", "EVENT", false, liveSegs[0].MSN, 37.9, 40.1, 0, 0, "hi/seg-"},
		{"VOD", "/dvr/recordings/" + f.ended.id + "/hi.m3u8", "VOD", true, endedSegs[0].MSN, 79.9, 80.1, 0, 1, "hi/seg-"},
		{"VOD catch-up after the gap", "/dvr/recordings/" + f.ended.id + "/hi.m3u8?t=2026-12-05T20:01:15Z", "VOD", true, endedSegs[0].MSN, 79.9, 80.1, 65, 1, "hi/"},
		{"VOD catch-up in the gap", "/dvr/recordings/" + f.ended.id + "/hi.m3u8?t=2026-12-05T20:01:05Z", "VOD", true, endedSegs[0].MSN, 79.9, 80.1, 60, 1, "hi/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, hdr := get(t, f.srv.URL+c.path, http.StatusOK)
			p := parsePlaylist(t, body)
			if ct := hdr.Get("Content-Type"); ct != playlistMIME {
				t.Errorf("Content-Type %q", ct)
			}
			discs := len(p.tags["#EXT-X-DISCONTINUITY"])
			switch {
			case p.tag("#EXT-X-PLAYLIST-TYPE") != c.typ:
				t.Errorf("PLAYLIST-TYPE %q, want %q", p.tag("#EXT-X-PLAYLIST-TYPE"), c.typ)
			case p.endList != c.endList:
				t.Errorf("ENDLIST %v, want %v", p.endList, c.endList)
			case p.tag("#EXT-X-MEDIA-SEQUENCE") != strconv.FormatUint(c.first, 10):
				t.Errorf("MEDIA-SEQUENCE %s, want %d", p.tag("#EXT-X-MEDIA-SEQUENCE"), c.first)
			case p.duration() < c.minDur || p.duration() > c.maxDur:
				t.Errorf("lasts %.3f s, want %.1f-%.1f", p.duration(), c.minDur, c.maxDur)
			case c.typ != "VOD" && !p.hasStart, p.hasStart && (p.startTime-c.start > 0.01 || c.start-p.startTime > 0.01):
				t.Errorf("EXT-X-START %v %.3f, want %.3f", p.hasStart, p.startTime, c.start)
			case discs != c.discs:
				t.Errorf("%d discontinuities, want %d", discs, c.discs)
			case p.tag("#EXT-X-TARGETDURATION") != "2":
				t.Errorf("TARGETDURATION %s", p.tag("#EXT-X-TARGETDURATION"))
			case !strings.HasPrefix(p.segments[0].uri, c.segURIPrefix):
				t.Errorf("segment URI %s, want prefix %s", p.segments[0].uri, c.segURIPrefix)
			}
			if c.endList && hdr.Get("Cache-Control") != cacheVOD || !c.endList && hdr.Get("Cache-Control") != cacheLive {
				t.Errorf("Cache-Control %q for ENDLIST %v", hdr.Get("Cache-Control"), c.endList)
			}
			if t.Failed() {
				t.Logf("%s", body)
			}
		})
	}
}

// TestMultivariant: every variant lists its codecs, resolution and the audio group, with
// the query passed on to the media playlists.
func TestMultivariant(t *testing.T) {
	f := newFixture(t)
	body, _ := get(t, f.srv.URL+"/dvr/room1/index.m3u8?start=over", http.StatusOK)
	for _, want := range []string{
		`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="a.m3u8?start=over"`,
		`,mp4a.40.2",RESOLUTION=320x240,AUDIO="aac"` + "\nhi.m3u8?start=over\n",
		`CODECS="avc1.42c00d,mp4a.40.2",RESOLUTION=320x240`,
		`RESOLUTION=160x120,AUDIO="aac"` + "\nlo.m3u8?start=over\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("multivariant lacks %q:\n%s", want, body)
		}
	}
	if strings.Index(body, "hi.m3u8") > strings.Index(body, "lo.m3u8") {
		t.Errorf("the top rendition is not first:\n%s", body)
	}
}
