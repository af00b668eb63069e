package dvr

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
)

// listedRange is an EXT-X-DATERANGE of a playlist with the segment it precedes.
type listedRange struct {
	id       string
	start    time.Time
	payload  string
	segStart time.Time // the PROGRAM-DATE-TIME of the segment it precedes
	segEnd   time.Time
}

// dateRangesOf reads a media playlist's EXT-X-DATERANGE tags, each checked strictly (RFC 8216
// §4.4.5.1) and paired with the segment that follows it; the playlist must give every
// segment a PROGRAM-DATE-TIME (a DATERANGE needs one).
func dateRangesOf(t *testing.T, playlist string) []listedRange {
	t.Helper()
	var out []listedRange
	pending := 0 // ranges waiting for their segment
	var pdt time.Time
	sc := bufio.NewScanner(strings.NewReader(playlist))
	for sc.Scan() {
		line := sc.Text()
		tag, value, _ := strings.Cut(line, ":")
		switch {
		case tag == "#EXT-X-DATERANGE":
			id, start, payload, err := testkit.CheckDateRange(value)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			out = append(out, listedRange{id: id, start: start, payload: string(payload)})
			pending++
		case tag == "#EXT-X-PROGRAM-DATE-TIME":
			var err error
			if pdt, err = time.Parse(time.RFC3339Nano, value); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		case tag == "#EXTINF":
			secs := strings.TrimSuffix(value, ",")
			d, err := time.ParseDuration(secs + "s")
			if err != nil || pdt.IsZero() {
				t.Fatalf("%s: %v (or no PROGRAM-DATE-TIME before it)", line, err)
			}
			for i := len(out) - pending; i < len(out); i++ {
				out[i].segStart, out[i].segEnd = pdt, pdt.Add(d)
			}
			pending, pdt = 0, time.Time{}
		}
	}
	if pending > 0 {
		t.Fatalf("%d EXT-X-DATERANGE after the last segment:\n%s", pending, playlist)
	}
	return out
}

// checkRanges: the playlist lists exactly the ids want, each before the segment that holds
// its start.
func checkRanges(t *testing.T, name, playlist string, want ...string) {
	t.Helper()
	got := dateRangesOf(t, playlist)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.id)
		if r.start.Before(r.segStart) || !r.start.Before(r.segEnd) {
			t.Errorf("%s: %s starts %v, listed before the segment %v–%v", name, r.id, r.start, r.segStart, r.segEnd)
		}
		if r.payload != `{"n":1}` {
			t.Errorf("%s: %s payload %q", name, r.id, r.payload)
		}
	}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("%s: date ranges %v, want %v\n%s", name, ids, want, playlist)
	}
}

// TestDateRangesInDVRPlaylists: timed events a live room's stream listed (one before its
// first segment, one early, one later) stay in the DVR's playlists at the segment holding
// their PROGRAM-DATE-TIME — the window (only those inside it), start-over and the
// recording's EVENT playlist (all), a catch-up playlist —, each a strict EXT-X-DATERANGE;
// once the room ends they are in the VOD; they survive a restart of the Library, a torn
// last line of dateranges.jsonl included, with the playlist unchanged.
func TestDateRangesInDVRPlaylists(t *testing.T) {
	dir := t.TempDir()
	lib := openLib(t, dir, Options{})
	start := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	tr := startRecording(t, lib, "room1", start)
	add := func(id string, at time.Duration) {
		t.Helper()
		dr := hls.DateRange{ID: id, Class: "com.glint.event", Value: "goal", Start: start.Add(at), Data: []byte(`{"n":1}`)}
		if err := tr.stream.AddDateRange(dr); err != nil {
			t.Fatal(err)
		}
	}
	add("first", 200*time.Millisecond) // before the recording's first segment
	tr.feed(t, 10*time.Second)
	add("early", 5100*time.Millisecond)
	add("later", 31*time.Second) // ahead of the media: listed once its segment is stored
	tr.feed(t, 40*time.Second)
	waitDrained(t, lib)
	h := NewHandler(HandlerOptions{Catalog: lib, Log: quietLog(), ClipDir: t.TempDir(),
		Window: func(string) time.Duration { return 20 * time.Second }})
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	window, _ := get(t, srv.URL+"/dvr/room1/hi.m3u8", 200)
	checkRanges(t, "window", window, "later")
	over, _ := get(t, srv.URL+"/dvr/room1/lo.m3u8?start=over", 200)
	checkRanges(t, "start-over", over, "first", "early", "later")
	catchUp, _ := get(t, srv.URL+"/dvr/room1/a.m3u8?t="+start.Add(35*time.Second).Format(time.RFC3339), 200)
	checkRanges(t, "catch-up", catchUp, "later")
	event, _ := get(t, srv.URL+"/dvr/recordings/"+tr.id+"/hi.m3u8", 200)
	checkRanges(t, "EVENT", event, "first", "early", "later")

	tr.end()
	waitDrained(t, lib)
	vod, _ := get(t, srv.URL+"/dvr/recordings/"+tr.id+"/hi.m3u8", 200)
	if !strings.Contains(vod, "#EXT-X-PLAYLIST-TYPE:VOD") {
		t.Fatalf("not a VOD yet:\n%s", vod)
	}
	checkRanges(t, "VOD", vod, "first", "early", "later")
	closeLib(t, lib)

	file := filepath.Join(dir, "dvr", recordingDir(tr.id), dateRangesFile)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"id":"torn","class":"com.gl`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	lib = openLib(t, dir, Options{})
	t.Cleanup(func() { closeLib(t, lib) })
	h2 := NewHandler(HandlerOptions{Catalog: lib, Log: quietLog(), ClipDir: t.TempDir()})
	mux2 := http.NewServeMux()
	h2.Register(mux2)
	srv2 := httptest.NewServer(mux2)
	defer srv2.Close()
	again, _ := get(t, srv2.URL+"/dvr/recordings/"+tr.id+"/hi.m3u8", 200)
	if again != vod {
		t.Errorf("after a restart the VOD differs:\n%s\nbefore:\n%s", again, vod)
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), "torn") || strings.Count(string(data), "\n") != 3 {
		t.Errorf("dateranges.jsonl after recovery:\n%s\nwant the torn line cut, 3 events", data)
	}
}

// TestIndexWithoutDecodeTimes: an index written before decode times were recorded (no ts,
// dt, ticks) is read in full after a restart: every segment with its other fields, and
// playlists over it are whole; only the DASH reach-back leaves such segments out
// (TestTimeshiftBefore).
func TestIndexWithoutDecodeTimes(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, "room1", t0, 12*time.Second, true)
	lib := openLib(t, dir, Options{})
	want, err := lib.Segments(id, "hi")
	if err != nil || len(want) < 5 || want[0].Timescale != 90000 || want[len(want)-1].Ticks == 0 {
		t.Fatalf("segments %+v (%v): want decode times recorded", want, err)
	}
	closeLib(t, lib)
	index := filepath.Join(dir, "dvr", renditionDir(id, "hi"), indexFile)
	data, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	var old strings.Builder
	for line := range strings.Lines(string(data)) {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatal(err)
		}
		delete(fields, "ts")
		delete(fields, "dt")
		delete(fields, "ticks")
		out, _ := json.Marshal(fields)
		old.Write(append(out, '\n'))
	}
	if err := os.WriteFile(index, []byte(old.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lib = openLib(t, dir, Options{})
	defer closeLib(t, lib)
	got, err := lib.Segments(id, "hi")
	if err != nil || len(got) != len(want) {
		t.Fatalf("old index: %d segments (%v), want %d", len(got), err, len(want))
	}
	for i := range got {
		w := want[i]
		w.Timescale, w.DecodeTime, w.Ticks = 0, 0, 0
		if got[i] != w {
			t.Errorf("segment %d: %+v, want %+v", i, got[i], w)
		}
	}
	pl := parsePlaylist(t, string(mediaPlaylist{typ: typeVOD, segs: got, base: "hi/"}.render()))
	if len(pl.segments) != len(want) || !pl.endList {
		t.Errorf("VOD over the old index: %d segments, ENDLIST %v", len(pl.segments), pl.endList)
	}
}
