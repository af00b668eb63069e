package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// dashSeekBack is how far behind the live edge dash.js seeks in TestDASHDVRWindow: 10 s more
// than the LL-HLS window keeps (10 segments of 2 s), so it plays segments only the DVR has.
const dashSeekBack = 30

// TestDASHDVRWindow: a demo publisher (854x480 H.264 + Opus over WHIP) into a server with
// LL-HLS, and so the DVR, on; once 45 s are recorded:
//   - mpd: timeShiftBufferDepth is the DVR window (2 h by default), every Representation's
//     timeline reaches behind the LL-HLS window, and the strict MPD check (checkMPD) passes
//     with the older segments' bytes = the DVR's;
//   - seek: dash.js (players.mjs --seek-back) seeks dashSeekBack s behind the live edge and
//     plays on there: it reports the DVR window, its live latency stays about dashSeekBack,
//     its currentTime advances and frames decode, without an error;
//   - dateranges: a timed event is listed as EXT-X-DATERANGE in the DVR's playlists
//     (checkDVRDateRanges).
func TestDASHDVRWindow(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	srv := startServer(t, "--hls=true")
	room := "dashdvr"
	demo := startDemoRoom(t, srv, room)
	waitRecorded(t, srv, room, 45)

	t.Run("mpd", func(t *testing.T) {
		m, _ := getMPD(t, srv.url("/dash/"+room+"/manifest.mpd"))
		if m.TimeShiftBufferDepth != "PT7200S" {
			t.Errorf("timeShiftBufferDepth %s, want the DVR window PT7200S", m.TimeShiftBufferDepth)
		}
		for _, as := range m.Periods[0].AdaptationSets {
			for _, rep := range as.Representations {
				if n := len(rep.SegmentTemplate.Segments()); n < 18 {
					t.Errorf("%s: %d segments listed; want the DVR's behind the LL-HLS window's 10 (45 s recorded)", rep.ID, n)
				}
			}
		}
		checkMPD(t, srv, room)
	})
	t.Run("seek", func(t *testing.T) { seekDASH(t, srv, room) })
	t.Run("dateranges", func(t *testing.T) { checkDVRDateRanges(t, srv, room) })

	if err := demo.Stop(15 * time.Second); err != nil {
		t.Errorf("glint demo after SIGTERM: %v (want exit status 0)", err)
	}
}

// seekDASH runs players.mjs with dash.js only, seeking dashSeekBack s back, and checks the
// 10 s after the seek settled.
func seekDASH(t *testing.T, srv *server, room string) {
	p := testkit.StartProc(t, testkit.ProcOptions{Name: "players", Env: []string{"TMPDIR=" + t.TempDir()}},
		"node", "players.mjs", srv.base, room, "--only=dash", fmt.Sprintf("--seek-back=%d", dashSeekBack), "--seconds=30")
	if err := p.Wait(90 * time.Second); err != nil {
		t.Fatalf("players.mjs: %v; its output ends:\n%s", err, testkit.Tail(p.Stderr(), 3000))
	}
	var after []playerSample
	for _, line := range p.Output() {
		var l playersLine
		if json.Unmarshal([]byte(line), &l) == nil && l.DASH != nil && l.DASH.Seeked {
			after = append(after, *l.DASH)
		}
	}
	if len(after) < 15 {
		t.Fatalf("dash.js seeked for %d of 30 samples; want at least 15:\n%s", len(after), strings.Join(p.Output(), "\n"))
	}
	settled := after[len(after)-10:]
	first, last := settled[0], settled[len(settled)-1]
	for _, s := range settled {
		if s.Error != "" || s.Latency == nil || *s.Latency < dashSeekBack-5 || *s.Latency > dashSeekBack+10 {
			t.Errorf("after the seek: %+v; want a live latency of about %d s and no error", s, dashSeekBack)
			break
		}
	}
	if last.CurrentTime-first.CurrentTime < 5 || last.Decoded <= first.Decoded || last.DVRWindow == nil || *last.DVRWindow < 40 {
		t.Errorf("after the seek: currentTime %.1f → %.1f, decoded %d → %d, DVR window %v; want playing on, a window of 40 s or more",
			first.CurrentTime, last.CurrentTime, first.Decoded, last.Decoded, deref(last.DVRWindow))
	}
	t.Logf("dash.js %d s behind the live edge: latency %.1f s, currentTime %.1f → %.1f over the last 10 s, DVR window %.0f s",
		dashSeekBack, deref(last.Latency), first.CurrentTime, last.CurrentTime, deref(last.DVRWindow))
}

// m3u8Segment is a segment as m3u8check.mjs (hls-parser, strict mode) reads it.
type m3u8Segment struct {
	URI       string    `json:"uri"`
	PDT       time.Time `json:"pdt"`
	Duration  float64   `json:"duration"`
	DateRange *struct {
		ID      string    `json:"id"`
		ClassID string    `json:"classId"`
		Start   time.Time `json:"start"`
	} `json:"dateRange"`
}

// strictSegments parses a media playlist with hls-parser in strict mode.
func strictSegments(t *testing.T, url string) []m3u8Segment {
	t.Helper()
	out, err := testkit.Command(context.Background(), 30*time.Second, "node", "m3u8check.mjs", url)
	if err != nil {
		t.Fatalf("hls-parser (strict) on %s: %v\n%s", url, err, out)
	}
	var pl struct{ Segments []m3u8Segment }
	if err := json.Unmarshal(out, &pl); err != nil {
		t.Fatalf("m3u8check.mjs: %v\n%s", err, out)
	}
	return pl.Segments
}

// checkDVRDateRanges: a timed event posted 2 s ahead is listed, once its segment is stored,
// in the room's DVR window playlist and in its recording's EVENT playlist, which hls-parser
// parses in strict mode, before the segment whose PROGRAM-DATE-TIME range holds its start.
func checkDVRDateRanges(t *testing.T, srv *server, room string) {
	at := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	id := postTestEvent(t, srv, room, at)
	m, _ := getMPD(t, srv.url("/dash/"+room+"/manifest.mpd"))
	rendition := m.Periods[0].AdaptationSets[0].Representations[0].ID
	rec := waitRecorded(t, srv, room, 0)
	for _, path := range []string{"/dvr/" + room + "/" + rendition + ".m3u8", "/dvr/recordings/" + rec.ID + "/" + rendition + ".m3u8"} {
		var found *m3u8Segment
		for deadline := time.Now().Add(30 * time.Second); found == nil && time.Now().Before(deadline); time.Sleep(2 * time.Second) {
			for _, seg := range strictSegments(t, srv.url(path)) {
				if seg.DateRange != nil && seg.DateRange.ID == id {
					found = &seg
				}
			}
		}
		if found == nil {
			t.Fatalf("%s: event %s not listed within 30 s", path, id)
		}
		end := found.PDT.Add(time.Duration(found.Duration * float64(time.Second)))
		if dr := found.DateRange; !dr.Start.Equal(at) || dr.Start.Before(found.PDT) || !dr.Start.Before(end) || dr.ClassID == "" {
			t.Errorf("%s: event %+v before the segment %s (%v–%v); want it starting at %v, inside that segment", path, *dr, found.URI, found.PDT, end, at)
		}
	}
}
