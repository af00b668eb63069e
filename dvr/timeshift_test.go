package dvr

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/glint-video/glint/dash"
	"github.com/glint-video/glint/hls"
)

// getMPD fetches a room's MPD from a dash.Server.
func getMPD(t *testing.T, sv *dash.Server, room string) dash.MPD {
	t.Helper()
	rec := httptest.NewRecorder()
	sv.ServeHTTP(rec, httptest.NewRequest("GET", "/dash/"+room+"/manifest.mpd", nil))
	if rec.Code != 200 {
		t.Fatalf("MPD: %d %s", rec.Code, rec.Body.String())
	}
	var m dash.MPD
	if err := xml.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("MPD: %v", err)
	}
	return m
}

// fragmentTiming returns a segment's first tfdt and the sum of its sample durations.
func fragmentTiming(t *testing.T, data []byte) (tfdt, dur uint64) {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	for i, frag := range f.Segments[0].Fragments {
		if i == 0 {
			tfdt = frag.Moof.Traf.Tfdt.BaseMediaDecodeTime()
		}
		dur += frag.Moof.Traf.Trun.Duration(0)
	}
	return tfdt, dur
}

// TestDASHReachesBackOverTheDVRWindow: a live room (two video renditions and audio, 10
// segments in its LL-HLS window) recorded for 80 s with a 40 s DVR window: its MPD's
// timeShiftBufferDepth is 40 s and every Representation's timeline reaches back over it
// with consecutive numbers; every listed complete segment is served under the MPD's URL
// with the decode time and duration the timeline gives it, the archived ones with the very
// bytes the DVR stored. An MPD asked again with nothing new is not rendered again (only its
// publishTime is new); after a new segment it is. After a publisher's reconnect the timeline starts at the reconnect (not
// across it); without an archive, only the live window is listed.
func TestDASHReachesBackOverTheDVRWindow(t *testing.T) {
	lib := openLib(t, t.TempDir(), Options{})
	start := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	tr := startRecording(t, lib, "room1", start)
	t.Cleanup(tr.end)
	hs := hls.NewServer(nil)
	hs.Add("room1", tr.stream)
	tr.feed(t, 80*time.Second)
	waitDrained(t, lib)
	window := 40 * time.Second
	archive := &countingArchive{Timeshift: NewTimeshift(lib, func(string) time.Duration { return window })}
	sv := dash.NewServer(hs, archive, quietLog())

	m := getMPD(t, sv, "room1")
	if m.TimeShiftBufferDepth != "PT40S" {
		t.Errorf("timeShiftBufferDepth %s, want PT40S", m.TimeShiftBufferDepth)
	}
	if calls, again := archive.calls, getMPD(t, sv, "room1"); archive.calls != calls || again.PublishTime < m.PublishTime {
		t.Errorf("an MPD asked again with nothing new: rendered again (%d archive reads, then %d), or publishTime %s after %s",
			calls, archive.calls, again.PublishTime, m.PublishTime)
	}
	for _, as := range m.Periods[0].AdaptationSets {
		for _, rep := range as.Representations {
			checkReachBack(t, sv, lib, tr, rep, window)
		}
	}

	calls := archive.calls
	tr.feed(t, 2*time.Second)
	if getMPD(t, sv, "room1"); archive.calls == calls {
		t.Error("the MPD was not rendered again after a new segment")
	}

	tr.reconnect(t, 5*time.Second)
	tr.feed(t, 30*time.Second)
	waitDrained(t, lib)
	segs, err := lib.Segments(tr.id, "hi")
	if err != nil {
		t.Fatal(err)
	}
	var restart uint64
	for _, s := range segs {
		if s.Discontinuity {
			restart = s.MSN
		}
	}
	m = getMPD(t, sv, "room1")
	if st := m.Periods[0].AdaptationSets[0].Representations[0].SegmentTemplate; restart == 0 || st.StartNumber < restart {
		t.Errorf("after a reconnect at segment %d the timeline starts at %d: want the reconnect or later", restart, st.StartNumber)
	}

	bare := getMPD(t, dash.NewServer(hs, nil, quietLog()), "room1")
	st := bare.Periods[0].AdaptationSets[0].Representations[0].SegmentTemplate
	if n := len(st.Segments()); n > 11 || bare.TimeShiftBufferDepth != "PT20S" {
		t.Errorf("without an archive: %d segments listed, timeShiftBufferDepth %s; want the live window (10 + 1, PT20S)", n, bare.TimeShiftBufferDepth)
	}
}

// countingArchive counts the reads of the DVR window (one per Representation per MPD
// rendered).
type countingArchive struct {
	*Timeshift
	calls int
}

func (a *countingArchive) Before(room string, live hls.TrackView, from uint64) []hls.SegmentView {
	a.calls++
	return a.Timeshift.Before(room, live, from)
}

// checkReachBack checks one Representation of TestDASHReachesBackOverTheDVRWindow.
func checkReachBack(t *testing.T, sv *dash.Server, lib *Library, tr *testRecording, rep dash.Representation, window time.Duration) {
	t.Helper()
	st := rep.SegmentTemplate
	segs := st.Segments()
	complete := segs[:len(segs)-1] // the last is being written
	first, last := complete[0], complete[len(complete)-1]
	span := time.Duration(float64(last.T+last.D-first.T) / float64(st.Timescale) * float64(time.Second))
	if span < window-2*time.Second || span > window+3*time.Second || len(complete) < 15 {
		t.Errorf("%s: %d complete segments over %v; want the 40 s window (more than the 10 kept live)", rep.ID, len(complete), span)
	}
	live := getView(t, tr, rep.ID)
	t.Logf("%s: %d complete segments over %v, from %d; the LL-HLS window from %d", rep.ID, len(complete), span, first.Number, live.Segments[0].MSN)
	for _, seg := range complete {
		rec := httptest.NewRecorder()
		sv.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/dash/room1/%s/seg%d.m4s", rep.ID, seg.Number), nil))
		if rec.Code != 200 {
			t.Fatalf("%s segment %d: %d %s", rep.ID, seg.Number, rec.Code, rec.Body.String())
		}
		tfdt, dur := fragmentTiming(t, rec.Body.Bytes())
		if tfdt != seg.T || dur != seg.D {
			t.Errorf("%s segment %d: tfdt %d duration %d; the timeline says t=%d d=%d", rep.ID, seg.Number, tfdt, dur, seg.T, seg.D)
		}
		if seg.Number >= live.Segments[0].MSN {
			continue
		}
		stored, err := lib.Read(context.Background(), segmentKey(tr.id, rep.ID, seg.Number))
		if err != nil || !bytes.Equal(stored, rec.Body.Bytes()) {
			t.Errorf("%s segment %d: not the DVR's bytes (%v)", rep.ID, seg.Number, err)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s segment %d: Cache-Control %q", rep.ID, seg.Number, cc)
		}
	}
	stored, err := lib.Segments(tr.id, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	sv.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/dash/room1/%s/seg%d.m4s", rep.ID, stored[0].MSN-1), nil))
	if rec.Code != 404 {
		t.Errorf("%s: a segment before the recording: %d, want 404", rep.ID, rec.Code)
	}
}

// getView returns a rendition's live view.
func getView(t *testing.T, tr *testRecording, rendition string) hls.TrackView {
	t.Helper()
	v, ok := tr.stream.Track(rendition).View()
	if !ok {
		t.Fatalf("%s: no view", rendition)
	}
	return v
}

// TestTimeshiftBefore: the stored segments behind the live window's first, oldest first,
// stop at a gap (kept: it starts the timeline), at segments recorded without decode times
// (an index written before they were recorded), at another init segment and at a decode time
// that does not follow on; a from cuts the older ones. None are given when the recording
// does not hold the live window's first segment with its timing (not stored yet, or another
// stream's numbers: a resumed recording) or that segment starts a timeline.
func TestTimeshiftBefore(t *testing.T) {
	const id = "room1.20261206T050000Z"
	var segs []Segment
	for i := range uint64(11) {
		segs = append(segs, Segment{MSN: 10 + i, Key: segmentKey(id, "hi", 10+i), InitKey: initKey(id, "hi", 3), Bytes: 1,
			Duration: 2 * time.Second, Timescale: 90000, DecodeTime: i * 180000, Ticks: 180000})
	}
	live := hls.TrackView{Rendition: "hi", Timescale: 90000, InitID: 3,
		Segments: []hls.SegmentView{{MSN: 20, Start: 10 * 180000, Ticks: 180000}}}
	alter := func(i int, change func(*Segment)) []Segment {
		c := append([]Segment(nil), segs...)
		change(&c[i])
		return c
	}
	for name, c := range map[string]struct {
		segs []Segment
		from uint64
		want string
	}{
		"all":                   {segs, 0, "[10 11 12 13 14 15 16 17 18 19]"},
		"from 5 s":              {segs, 5 * 90000, "[12 13 14 15 16 17 18 19]"},
		"gap at 15":             {alter(5, func(s *Segment) { s.Gap = true }), 0, "[15 16 17 18 19]"},
		"old index line at 13":  {alter(3, func(s *Segment) { s.Timescale, s.DecodeTime, s.Ticks = 0, 0, 0 }), 0, "[14 15 16 17 18 19]"},
		"other init at 16":      {alter(6, func(s *Segment) { s.InitKey = initKey(id, "hi", 2) }), 0, "[17 18 19]"},
		"time jump at 17":       {alter(7, func(s *Segment) { s.DecodeTime += 9000 }), 0, "[18 19]"},
		"live first not stored": {segs[:10], 0, "[]"},
		"another stream's 20":   {alter(10, func(s *Segment) { s.DecodeTime += 7 * 90000 }), 0, "[]"},
		"live first restarts":   {alter(10, func(s *Segment) { s.Discontinuity = true }), 0, "[]"},
	} {
		cat := &indexCatalog{rec: Recording{ID: id, Room: "room1", Live: true}, segs: c.segs}
		var got []uint64
		for _, s := range NewTimeshift(cat, nil).Before("room1", live, c.from) {
			got = append(got, s.MSN)
		}
		if fmt.Sprint(got) != c.want {
			t.Errorf("%s: %v, want %s", name, got, c.want)
		}
	}
}

// keyCatalog is an indexCatalog whose Read answers the key itself.
type keyCatalog struct{ indexCatalog }

func (c *keyCatalog) Read(_ context.Context, key string) ([]byte, error) { return []byte(key), nil }

// TestTimeshiftReadSegment: a segment is read by the stream's number while the recording
// holds the live window's first segment under that number with its timing; not when it holds
// another stream's segment there (a resumed recording's numbering), nor a number it lacks.
func TestTimeshiftReadSegment(t *testing.T) {
	const id = "room1.20261206T050000Z"
	var segs []Segment
	for i := range uint64(11) {
		segs = append(segs, Segment{MSN: 10 + i, Key: segmentKey(id, "hi", 10+i), InitKey: initKey(id, "hi", 3), Bytes: 1,
			Duration: 2 * time.Second, Timescale: 90000, DecodeTime: i * 180000, Ticks: 180000})
	}
	live := hls.TrackView{Rendition: "hi", Timescale: 90000, InitID: 3,
		Segments: []hls.SegmentView{{MSN: 20, Start: 10 * 180000, Ticks: 180000}}}
	read := func(segs []Segment, msn uint64) (string, error) {
		cat := &keyCatalog{indexCatalog{rec: Recording{ID: id, Room: "room1", Live: true}, segs: segs}}
		data, err := NewTimeshift(cat, nil).ReadSegment(context.Background(), "room1", live, msn)
		return string(data), err
	}
	if got, err := read(segs, 15); err != nil || got != segmentKey(id, "hi", 15) {
		t.Errorf("segment 15: %q, %v", got, err)
	}
	other := append([]Segment(nil), segs...)
	other[10].DecodeTime += 90000
	if _, err := read(other, 15); !errors.Is(err, ErrNotFound) {
		t.Errorf("numbered otherwise than the stream: %v, want ErrNotFound", err)
	}
	if _, err := read(segs, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("a number not stored: %v, want ErrNotFound", err)
	}
}
