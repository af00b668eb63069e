package hls

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/glint-video/glint/internal/testkit"
)

// partEmsgs decodes a part (or segment) with mp4ff and returns its emsg boxes with the
// decode time and duration (ticks) of the fragment each precedes.
func partEmsgs(t *testing.T, data []byte) (boxes []*mp4.EmsgBox, tfdt, dur uint64) {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("mp4ff cannot decode the part: %v", err)
	}
	for _, seg := range f.Segments {
		for _, frag := range seg.Fragments {
			boxes = append(boxes, frag.Emsgs...)
			if frag.Moof != nil && len(boxes) > 0 && tfdt == 0 {
				tfdt = frag.Moof.Traf.Tfdt.BaseMediaDecodeTime()
				dur = uint64(frag.Moof.Traf.Trun.Duration(0))
			}
		}
	}
	return boxes, tfdt, dur
}

func TestDateRangeAndEmsg(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	var segments [][]byte
	s.cfg.Sink = SinkFuncs{Segment: func(fs FinishedSegment) {
		if fs.Rendition == "hi" {
			segments = append(segments, fs.Data)
		}
	}}
	f.feedUntil(time.Second)
	start := f.start.Add(3100 * time.Millisecond)
	data := []byte(`{"id":"ev1","type":"bets-closed","payload":{"market":"1x2"}}`)
	if err := s.AddDateRange(DateRange{ID: "ev1", Class: "urn:glint:event:2026", Value: "bets-closed", Start: start, Data: data}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []DateRange{{ID: `a"b`, Class: "c", Start: start}, {ID: "x", Class: "c"}, {ID: "ev1", Class: "c", Start: start}} {
		if err := s.AddDateRange(bad); err == nil {
			t.Errorf("AddDateRange(%+v) accepted", bad)
		}
	}
	f.feedUntil(6 * time.Second)

	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		ranges := pl.tags["EXT-X-DATERANGE"]
		if len(ranges) != 1 || len(pl.tags["EXT-X-PROGRAM-DATE-TIME"]) == 0 {
			t.Fatalf("%s: %d DATERANGE tags, want 1 (and PROGRAM-DATE-TIME):\n%s", r, len(ranges), pl.text)
		}
		id, got, payload, err := testkit.CheckDateRange(ranges[0])
		if err != nil || id != "ev1" || !got.Equal(start.Truncate(time.Millisecond)) || !bytes.Equal(payload, data) {
			t.Fatalf("%s: DATERANGE %s: %v (id %q start %v payload %s)", r, ranges[0], err, id, got, payload)
		}
		// It follows the PROGRAM-DATE-TIME of the segment holding its start.
		before := pl.text[:strings.Index(pl.text, "#EXT-X-DATERANGE")]
		lastPDT := before[strings.LastIndex(before, "#EXT-X-PROGRAM-DATE-TIME:")+len("#EXT-X-PROGRAM-DATE-TIME:"):]
		pdt, _ := time.Parse(time.RFC3339Nano, strings.TrimSpace(strings.SplitN(lastPDT, "\n", 2)[0]))
		if pdt.After(start) || start.Sub(pdt) > 2500*time.Millisecond {
			t.Errorf("%s: DATERANGE at %v listed under the segment of PROGRAM-DATE-TIME %v", r, start, pdt)
		}

		// Exactly one part carries the emsg: the one whose time span holds the start.
		found := 0
		for _, seg := range pl.segments {
			for _, p := range seg.parts {
				boxes, tfdt, dur := partEmsgs(t, []byte(mustGet(t, sv, "/hls/room1/"+r+"/"+p.uri)))
				if len(boxes) == 0 {
					continue
				}
				found++
				e := boxes[0]
				if e.Version != 1 || e.SchemeIDURI != "urn:glint:event:2026" || e.Value != "bets-closed" || !bytes.Equal(e.MessageData, data) {
					t.Errorf("%s %s: emsg %+v", r, p.uri, e)
				}
				if e.PresentationTime < tfdt || e.PresentationTime >= tfdt+dur {
					t.Errorf("%s %s: emsg at %d outside its part [%d, %d)", r, p.uri, e.PresentationTime, tfdt, tfdt+dur)
				}
				// Its time is the start on the PROGRAM-DATE-TIME scale.
				segTfdt := firstDecodeTime(t, []byte(mustGet(t, sv, "/hls/room1/"+r+"/"+seg.parts[0].uri)))
				at := seg.pdt.Add(time.Duration(float64(e.PresentationTime-segTfdt) / float64(e.TimeScale) * float64(time.Second)))
				if d := at.Sub(start).Abs(); d > time.Millisecond {
					t.Errorf("%s: emsg presentation time maps to %v, want %v", r, at, start)
				}
			}
		}
		if found != 1 {
			t.Errorf("%s: %d parts with an emsg, want 1", r, found)
		}
	}
	// The segment handed to the sink (what the DVR stores) keeps the emsg, and mp4ff (as the
	// DVR's clip muxer) still reads its samples.
	withEmsg := 0
	for _, seg := range segments {
		if boxes, _, _ := partEmsgs(t, seg); len(boxes) > 0 {
			withEmsg++
		}
	}
	if withEmsg != 1 {
		t.Errorf("%d segments given to the sink carry the emsg, want 1", withEmsg)
	}
}

func firstDecodeTime(t *testing.T, data []byte) uint64 {
	t.Helper()
	return moofs(t, data)[0].Traf.Tfdt.BaseMediaDecodeTime()
}
