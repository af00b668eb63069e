package dash

import (
	"encoding/xml"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
)

// TestMPDKey: the key of what an MPD lists stays while the segment being written grows
// within its listed length, and changes with a new segment, a live segment longer than
// nominal, the DVR window and the clock's URL.
func TestMPDKey(t *testing.T) {
	tm := hls.StreamTiming{SegmentDuration: 2 * time.Second, PartTarget: 333 * time.Millisecond, Window: 3}
	v := hls.TrackView{Rendition: "source", Timescale: 90000, InitID: 1, Segments: segmentsFrom(10, 3, 90000, 0, time.Time{}),
		Live: &hls.SegmentView{MSN: 13, Start: 540000, Ticks: 30000}}
	key := mpdKey([]hls.TrackView{v}, tm, time.Hour, "u")
	grown := v
	grown.Live = &hls.SegmentView{MSN: 13, Start: 540000, Ticks: 120000}
	if k := mpdKey([]hls.TrackView{grown}, tm, time.Hour, "u"); k != key {
		t.Errorf("a part more changed the key: %q → %q", key, k)
	}
	long := v
	long.Live = &hls.SegmentView{MSN: 13, Start: 540000, Ticks: 190000} // past nominal: listed longer
	next := v
	next.Segments, next.Live = segmentsFrom(11, 3, 90000, 180000, time.Time{}), &hls.SegmentView{MSN: 14, Start: 720000, Ticks: 30000}
	for name, k := range map[string]string{
		"live segment past nominal": mpdKey([]hls.TrackView{long}, tm, time.Hour, "u"),
		"a new segment":             mpdKey([]hls.TrackView{next}, tm, time.Hour, "u"),
		"another window":            mpdKey([]hls.TrackView{v}, tm, 2*time.Hour, "u"),
		"another clock URL":         mpdKey([]hls.TrackView{v}, tm, time.Hour, "https://x/api/time?format=iso"),
	} {
		if k == key {
			t.Errorf("%s: the key did not change", name)
		}
	}
}

// TestPublishTimeAt: the offset where a cached MPD's publishTime value is rewritten per answer.
func TestPublishTimeAt(t *testing.T) {
	m := &MPD{Type: "dynamic", PublishTime: xsDateTime(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))}
	body, err := xml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	at := publishTimeAt(body)
	if at < 0 || string(body[at:at+24]) != "2026-12-06T03:00:00.000Z" {
		t.Errorf("publishTimeAt: %d in %s", at, body)
	}
	if publishTimeAt([]byte(`<MPD type="dynamic"/>`)) != -1 {
		t.Error("an MPD without publishTime: want -1")
	}
}
