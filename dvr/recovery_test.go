package dvr

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// record feeds room for d starting at start into a Library on dir, closing the stream
// when closed is true (otherwise the Library closes with the recording live, as a crash
// would leave it), and returns the recording's id.
func record(t *testing.T, dir, room string, start time.Time, d time.Duration, closed bool) string {
	t.Helper()
	l := openLib(t, dir, Options{})
	f := newFeed(t, room, l, start)
	f.until(d)
	if closed {
		f.close()
	}
	waitDrained(t, l)
	rec, ok := l.Live(room)
	if !ok && closed {
		recs := l.Recordings(room)
		rec = recs[0]
	}
	closeLib(t, l)
	if !closed {
		f.close()
	}
	return rec.ID
}

// TestRecoveryCutsTornTail: after a crash, a partial last index line and a listed segment
// whose bytes are short are discarded (the index file is cut to its last good line), a
// recording without End is closed as Interrupted at its last segment, and nothing else
// is lost.
func TestRecoveryCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, "room1", t0, 12*time.Second, false)
	l := openLib(t, dir, Options{})
	before := map[string][]Segment{}
	for _, r := range []string{"hi", "lo"} {
		segs, err := l.Segments(id, r)
		if err != nil {
			t.Fatal(err)
		}
		before[r] = segs
	}
	closeLib(t, l)
	hiIndex := filepath.Join(dir, "dvr", renditionDir(id, "hi"), indexFile)
	f, err := os.OpenFile(hiIndex, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"msn":99999999999,"key":"room1/`); err != nil { // torn mid-line
		t.Fatal(err)
	}
	f.Close()
	loLast := before["lo"][len(before["lo"])-1]
	if err := os.Truncate(filepath.Join(dir, "dvr", filepath.FromSlash(loLast.Key)), loLast.Bytes/2); err != nil {
		t.Fatal(err)
	}
	// The recording.json of a crash: no End.
	if err := writeMeta(filepath.Join(dir, "dvr", recordingDir(id), recordingFile),
		recordingMeta{ID: id, Room: "room1", Start: t0}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	l = openLib(t, dir, Options{})
	t.Logf("recovery of %d segments took %v", len(before["hi"])+len(before["lo"]), time.Since(start))
	hi, _ := l.Segments(id, "hi")
	lo, _ := l.Segments(id, "lo")
	if len(hi) != len(before["hi"]) || len(lo) != len(before["lo"])-1 {
		t.Fatalf("after recovery: hi %d segments (had %d), lo %d (had %d, the last torn)", len(hi), len(before["hi"]), len(lo), len(before["lo"]))
	}
	rec, _ := l.Recording(id)
	if !rec.Interrupted || rec.Live || !rec.End.Equal(hi[len(hi)-1].End()) {
		t.Errorf("recording after a crash: %+v, want interrupted, ended at %v", rec, hi[len(hi)-1].End())
	}
	closeLib(t, l)
	for r, want := range map[string]int{"hi": len(hi), "lo": len(lo)} {
		segs, ends, size, err := readIndex(filepath.Join(dir, "dvr", renditionDir(id, r), indexFile))
		if err != nil || len(segs) != want || ends[len(ends)-1] != size {
			t.Errorf("%s index after recovery: %d lines, %d bytes (good up to %v), %v; want %d lines and no tail",
				r, len(segs), size, ends, err, want)
		}
	}
}

// TestResumeAfterCrash: a room publishing again within ResumeWithin of an interrupted
// recording's last segment continues it, the first new segment of each rendition marked
// Gap and numbered after the stored ones; later than that, a new recording starts.
func TestResumeAfterCrash(t *testing.T) {
	dir := t.TempDir()
	id := record(t, dir, "room1", t0, 8*time.Second, false)
	l := openLib(t, dir, Options{ResumeWithin: time.Minute})
	before, _ := l.Segments(id, "hi")
	f := newFeed(t, "room1", l, t0.Add(30*time.Second))
	f.until(8 * time.Second)
	f.close()
	waitDrained(t, l)
	closeLib(t, l)

	l = openLib(t, dir, Options{ResumeWithin: time.Minute})
	if recs := l.Recordings("room1"); len(recs) != 1 || recs[0].ID != id || !recs[0].Interrupted || recs[0].End.IsZero() {
		t.Fatalf("recordings after a resume: %+v", recs)
	}
	for _, r := range []string{"hi", "lo"} {
		segs, _ := l.Segments(id, r)
		n := len(before)
		if len(segs) <= n+2 {
			t.Fatalf("%s: %d segments, %d before the crash", r, len(segs), n)
		}
		for i, s := range segs {
			if wantGap := i == n; s.Gap != wantGap || (i > 0 && s.MSN <= segs[i-1].MSN) {
				t.Errorf("%s: segment %d (MSN %d) gap %v, want %v", r, i, s.MSN, s.Gap, wantGap)
			}
		}
	}
	closeLib(t, l)

	record(t, dir, "room1", t0.Add(10*time.Minute), 8*time.Second, false) // crashes again
	l = openLib(t, dir, Options{ResumeWithin: time.Minute})
	f = newFeed(t, "room1", l, t0.Add(20*time.Minute))
	f.until(5 * time.Second)
	f.close()
	waitDrained(t, l)
	if recs := l.Recordings("room1"); len(recs) != 3 || recs[0].ID != "room1.20261205T212000Z" {
		t.Fatalf("a room back after ResumeWithin: recordings %+v, want a third one", recs)
	}
}
