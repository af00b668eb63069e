package dash

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
)

func u64(v uint64) *uint64 { return &v }

// TestTimeline: equal consecutive durations merge into r; a gap restarts with t.
func TestTimeline(t *testing.T) {
	segs := []hls.SegmentView{
		{MSN: 5, Start: 1000, Ticks: 180000},
		{MSN: 6, Start: 181000, Ticks: 180000},
		{MSN: 7, Start: 361000, Ticks: 180000},
		{MSN: 8, Start: 541000, Ticks: 170000},
		{MSN: 9, Start: 800000, Ticks: 180000}, // a gap before it
		{MSN: 10, Start: 980000, Ticks: 180000},
	}
	got := timeline(segs)
	want := []S{{T: u64(1000), D: 180000, R: 2}, {D: 170000}, {T: u64(800000), D: 180000, R: 1}}
	if len(got) != len(want) {
		t.Fatalf("timeline %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].D != want[i].D || got[i].R != want[i].R || (got[i].T == nil) != (want[i].T == nil) ||
			got[i].T != nil && *got[i].T != *want[i].T {
			t.Errorf("S[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestBuildMPD: timing attributes from the Stream's config, availabilityStartTime from the
// newest segment's program date-time, the live segment listed with its expected length and
// low-latency attributes, audio in its own AdaptationSet; an ended stream stops updates.
func TestBuildMPD(t *testing.T) {
	pdt := time.Date(2026, 12, 6, 3, 0, 10, 0, time.UTC)
	tm := hls.StreamTiming{SegmentDuration: 2 * time.Second, PartTarget: 337 * time.Millisecond, Window: 6, BlockTimeout: 6 * time.Second}
	video := hls.TrackView{Rendition: "source", Timescale: 90000, Codec: "avc1.42c01f", Width: 854, Height: 480, FPS: 29.97,
		Bandwidth: 1e6, InitID: 5,
		Segments: []hls.SegmentView{{MSN: 5, Start: 900000, Ticks: 180000, ProgramDateTime: pdt}},
		Live:     &hls.SegmentView{MSN: 6, Start: 1080000, Ticks: 30000}}
	audio := hls.TrackView{Rendition: hls.AudioRendition, Audio: true, Timescale: 48000, Codec: "mp4a.40.2", SampleRate: 48000,
		Channels: 2, Bandwidth: 64000, InitID: 5, Segments: []hls.SegmentView{{MSN: 5, Start: 480000, Ticks: 96000, ProgramDateTime: pdt}}}
	m, err := buildMPD(manifestInput{views: []hls.TrackView{video, audio}, timing: tm, now: pdt.Add(3 * time.Second), timeURL: "http://x/api/time?format=iso"})
	if err != nil {
		t.Fatal(err)
	}
	if m.AvailabilityStartTime != "2026-12-06T03:00:00.000Z" || m.TimeShiftBufferDepth != "PT12S" || m.MinimumUpdatePeriod != "PT0.5S" ||
		m.MaxSegmentDuration != "PT3S" || m.PublishTime != "2026-12-06T03:00:13.000Z" {
		t.Errorf("MPD attributes %+v", m)
	}
	sets := m.Periods[0].AdaptationSets
	if len(sets) != 2 || sets[0].ContentType != "video" || sets[1].ContentType != "audio" {
		t.Fatalf("adaptation sets %+v", sets)
	}
	v := sets[0].Representations[0]
	st := v.SegmentTemplate
	if v.FrameRate != "30000/1001" || st.StartNumber != 5 || st.Media != "source/seg$Number$.m4s" || st.Initialization != "source/init5.mp4" ||
		st.AvailabilityTimeOffset != "1.663" || st.AvailabilityTimeComplete != "false" {
		t.Errorf("video representation %+v", v)
	}
	if s := st.Timeline.S; len(s) != 1 || s[0].R != 1 || s[0].D != 180000 {
		t.Errorf("video timeline %+v: want the complete segment and the live one at 2 s", s)
	}
	if a := sets[1].Representations[0]; a.AudioChannels == nil || a.AudioChannels.Value != "2" || a.SegmentTemplate.AvailabilityTimeComplete != "false" ||
		a.SegmentTemplate.AvailabilityTimeOffset != "1.663" {
		t.Errorf("audio representation %+v: no segment being written, but the stream is live: its segments are chunked, so availabilityTimeOffset and availabilityTimeComplete=false", a)
	}
	video.Ended, video.Live, audio.Ended = true, nil, true
	m, _ = buildMPD(manifestInput{views: []hls.TrackView{video, audio}, timing: tm, now: pdt, timeURL: "x"})
	if m.MinimumUpdatePeriod != "" {
		t.Errorf("ended stream: minimumUpdatePeriod %q, want none", m.MinimumUpdatePeriod)
	}
	if _, err := buildMPD(manifestInput{timing: tm}); err == nil {
		t.Error("no tracks: want an error")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT1.5S": 1500 * time.Millisecond, "PT1M2S": 62 * time.Second, "PT2H": 2 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P1D", "PTS", "PT1X", "PT1"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q): want an error", bad)
		}
	}
}

// TestServerErrors: unknown rooms, renditions and files are 404 with a reason; a room
// without a complete segment is 503 with Retry-After; /dash/time redirects (308) to the
// node's clock endpoint, /api/time?format=iso.
func TestServerErrors(t *testing.T) {
	hs := hls.NewServer(nil)
	s := hls.NewStream("r1", hls.Config{BlockTimeout: 50 * time.Millisecond}, nil)
	defer s.Close()
	if _, err := s.AddVideo("source", hls.VideoTrackInfo{}); err != nil {
		t.Fatal(err)
	}
	hs.Add("r1", s)
	sv := NewServer(hs, nil, nil)
	for path, want := range map[string]int{
		"/dash/nope/manifest.mpd":     404,
		"/dash/r1/index.m3u8":         404,
		"/dash/r1/x/seg1.m4s":         404,
		"/dash/r1/source/seg1.mp4":    404,
		"/dash/r1/source/init1.mp4":   404,
		"/dash/r1/source/seg1.m4s":    404,
		"/dash/r1/manifest.mpd":       503,
		"/dash/r1/source/a/seg1.m4s":  404,
		"/dash/time":                  308,
		"/dash/r1/source/seg-1.m4s":   404,
		"/dash/r1/source/segx.m4s":    404,
		"/dash/r1/source/init.mp4":    404,
		"/dash/r1/source/seg1.m4s?x=": 404,
	} {
		rec := httptest.NewRecorder()
		sv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if path == LegacyTimePath {
			if rec.Code != want || rec.Header().Get("Location") != "/api/time?format=iso" {
				t.Errorf("GET %s: %d to %q; want a permanent redirect to /api/time?format=iso", path, rec.Code, rec.Header().Get("Location"))
			}
			continue
		}
		if rec.Code != want || rec.Body.Len() == 0 || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %q %q; want %d with a reason, not cached", path, rec.Code, rec.Body.String(), rec.Header().Get("Cache-Control"), want)
		}
		if want == 503 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("GET %s: 503 without Retry-After", path)
		}
	}
	rec := httptest.NewRecorder()
	sv.ServeHTTP(rec, httptest.NewRequest("POST", "/dash/r1/manifest.mpd", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
	var m MPD
	if err := xml.Unmarshal([]byte(`<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"/>`), &m); err != nil || m.Type != "static" {
		t.Errorf("MPD type round trip: %v %q", err, m.Type)
	}
}
