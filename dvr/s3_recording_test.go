package dvr

import (
	"bytes"
	"testing"
	"time"

	"github.com/glint-video/glint/dvr/s3test"
	"github.com/glint-video/glint/hls"
)

// checkStoredAsTold checks that every segment a rendition's index lists is one the Stream
// told (same MSN, duration, PDT and size) and that Catalog.Read returns its bytes and its
// init segment's; it returns the segments listed.
func checkStoredAsTold(t *testing.T, l *Library, id, rendition string, told []hls.FinishedSegment) []Segment {
	t.Helper()
	byMSN := map[uint64]hls.FinishedSegment{}
	for _, fs := range told {
		byMSN[fs.MSN] = fs
	}
	segs, err := l.Segments(id, rendition)
	if err != nil {
		t.Fatalf("%s/%s: %v", id, rendition, err)
	}
	for _, s := range segs {
		w, ok := byMSN[s.MSN]
		if !ok || s.Duration != w.Duration || !s.PDT.Equal(w.ProgramDateTime) || s.Bytes != int64(len(w.Data)) {
			t.Fatalf("%s: stored segment %+v was not told so (told: %v)", rendition, s, ok)
		}
		ctx := conformCtx(t)
		if data, err := l.Read(ctx, s.Key); err != nil || !bytes.Equal(data, w.Data) {
			t.Fatalf("%s: segment %d: %d bytes read (%v), %d told", rendition, s.MSN, len(data), err, len(w.Data))
		}
		if init, err := l.Read(ctx, s.InitKey); err != nil || !bytes.Equal(init, w.Init) {
			t.Fatalf("%s: init %s of segment %d differs (%v)", rendition, s.InitKey, s.MSN, err)
		}
	}
	return segs
}

// recordToS3 records d of room1 (from t0) into a Library on dir whose store is srv under
// prefix, closes the stream when closeStream is set, closes the Library, and returns what
// the Stream told.
func recordToS3(t *testing.T, srv *s3test.Server, prefix, dir string, d time.Duration, closeStream bool) *tee {
	t.Helper()
	l := openLib(t, dir, Options{Store: newS3Store(t, srv, prefix, 0)})
	told := newTee(l)
	f := newFeed(t, "room1", told, t0)
	f.until(d)
	if closeStream {
		f.close()
	}
	closeLib(t, l)
	return told
}

// TestS3RecorderStoresEverySegment: a Library whose Store is an S3Store on versitygw records
// a real hls.Stream; every segment of every rendition is in the bucket and reads back
// through the Catalog, also from a Library reopened with a new S3Store.
func TestS3RecorderStoresEverySegment(t *testing.T) {
	srv, dir := s3test.Start(t), t.TempDir()
	told := recordToS3(t, srv, "dvr", dir, 12*time.Second, true)

	s3 := newS3Store(t, srv, "dvr", 0)
	l2 := openLib(t, dir, Options{Store: s3})
	recs := l2.Recordings("room1")
	if len(recs) != 1 || recs[0].Live || recs[0].Interrupted || recs[0].End.IsZero() || len(recs[0].Renditions) != 2 {
		t.Fatalf("recordings after reopening: %+v, want one ended with 2 renditions", recs)
	}
	id := recs[0].ID
	for _, r := range []string{"hi", "lo"} {
		segs := checkStoredAsTold(t, l2, id, r, told.segs[r])
		if len(segs) != len(told.segs[r]) || len(told.segs[r]) < 5 {
			t.Fatalf("%s: %d segments stored, %d told", r, len(segs), len(told.segs[r]))
		}
		for _, s := range segs {
			if s.Gap {
				t.Errorf("%s: segment %d marked Gap in a recording without loss", r, s.MSN)
			}
		}
		keys, err := s3.List(conformCtx(t), renditionDir(id, r)+"/")
		if err != nil || len(keys) != len(segs)+1 { // the segments and one init segment
			t.Errorf("%s: bucket holds %q (%v), want %d segments and an init segment", r, keys, err, len(segs))
		}
	}
}

// TestS3RecorderRecovers: a Library on S3 that stops mid-recording (as a crash would) is
// reopened: the recording is closed as interrupted, a listed segment whose object never
// reached the bucket is cut from the index tail, and when the room comes back the recording
// resumes with a Gap.
func TestS3RecorderRecovers(t *testing.T) {
	srv, dir := s3test.Start(t), t.TempDir()
	// The stream stays live: the next Open finds the recording unended.
	told := recordToS3(t, srv, "", dir, 10*time.Second, false)
	id := "room1.20261205T210000Z"
	lastHi := told.segs["hi"][len(told.segs["hi"])-1]
	s3 := newS3Store(t, srv, "", 0)
	if err := s3.Delete(conformCtx(t), segmentKey(id, "hi", lastHi.MSN)); err != nil {
		t.Fatal(err)
	}

	l2 := openLib(t, dir, Options{Store: s3})
	rec, ok := l2.Recording(id)
	if !ok || !rec.Interrupted || rec.Live || rec.End.IsZero() {
		t.Fatalf("recording after reopening: %+v (found %v), want interrupted and ended", rec, ok)
	}
	hi := checkStoredAsTold(t, l2, id, "hi", told.segs["hi"])
	lo := checkStoredAsTold(t, l2, id, "lo", told.segs["lo"])
	if len(hi) != len(told.segs["hi"])-1 || len(lo) != len(told.segs["lo"]) {
		t.Fatalf("after recovery hi has %d segments (told %d, the last lost), lo %d (told %d)",
			len(hi), len(told.segs["hi"]), len(lo), len(told.segs["lo"]))
	}

	told2 := newTee(l2)
	f2 := newFeed(t, "room1", told2, t0.Add(30*time.Second))
	f2.until(6 * time.Second)
	f2.close()
	closeLib(t, l2)
	l3 := openLib(t, dir, Options{Store: newS3Store(t, srv, "", 0)})
	if recs := l3.Recordings("room1"); len(recs) != 1 || recs[0].ID != id {
		t.Fatalf("recordings after the room came back: %+v, want %s resumed", recs, id)
	}
	for _, r := range []string{"hi", "lo"} {
		all := append(append([]hls.FinishedSegment{}, told.segs[r]...), renumbered(told2.segs[r], l3, id, r)...)
		segs := checkStoredAsTold(t, l3, id, r, all)
		before := len(told.segs[r])
		if r == "hi" {
			before--
		}
		if len(segs) != before+len(told2.segs[r]) || !segs[before].Gap {
			t.Fatalf("%s: %d segments (%d before the crash), first after it %+v: want all stored and a Gap",
				r, len(segs), before, segs[min(before, len(segs)-1)])
		}
	}
}

// renumbered gives told segments of a resumed recording the MSNs the Library stored them
// under (it numbers them on from the recording's last one), matched by PDT.
func renumbered(told []hls.FinishedSegment, l *Library, id, rendition string) []hls.FinishedSegment {
	segs, _ := l.Segments(id, rendition)
	out := make([]hls.FinishedSegment, 0, len(told))
	for _, fs := range told {
		for _, s := range segs {
			if s.PDT.Equal(fs.ProgramDateTime) {
				fs.MSN = s.MSN
			}
		}
		out = append(out, fs)
	}
	return out
}
