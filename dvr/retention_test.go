package dvr

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRetentionSparesHeldRecordings: retention removes the recordings over MaxAge, oldest
// first, except one being read (held) and the live one; the held one goes once released.
// Delete drops a recording from the listings at once and its bytes after the last hold.
func TestRetentionSparesHeldRecordings(t *testing.T) {
	dir := t.TempDir()
	var ids []string
	for i := range 3 {
		ids = append(ids, record(t, dir, "room1", t0.Add(time.Duration(i)*time.Hour), 5*time.Second, true))
	}
	del := record(t, dir, "room2", t0, 5*time.Second, true)
	now := t0.Add(2*time.Hour + 30*time.Minute) // the first two are over an hour old
	l := openLib(t, dir, Options{MaxAge: time.Hour, Now: func() time.Time { return now }, RetentionInterval: time.Hour})
	releaseOld, err := l.Hold(ids[0]) // before any write asks for retention
	if err != nil {
		t.Fatal(err)
	}
	releaseDel, err := l.Hold(del)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(context.Background(), del); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Recording(del); ok {
		t.Error("a deleted recording is still listed")
	}
	if onDisk(filepath.Join(dir, "dvr", recordingDir(del), recordingFile)) {
		t.Error("a deleted recording keeps its recording.json (a crash would bring it back)")
	}
	if _, err := l.Read(context.Background(), segmentKeyOf(t, l, del)); err != nil {
		t.Errorf("the holder of a deleted recording cannot read it: %v", err)
	}
	live := newFeed(t, "room3", l, t0)
	live.until(5 * time.Second)
	waitDrained(t, l)
	l.retentionPass(context.Background())
	exists := func(id string) bool { return onDisk(filepath.Join(dir, "dvr", filepath.FromSlash(recordingDir(id)))) }
	waitGone(t, exists, ids[1]) // the writes of room3 may have run a pass of their own
	_, listed0 := l.Recording(ids[0])
	_, listed1 := l.Recording(ids[1])
	_, listed2 := l.Recording(ids[2])
	if !listed0 || !exists(ids[0]) || listed1 || !listed2 || !exists(ids[2]) || !exists(del) {
		t.Fatalf("after retention: held %v/%v, old listed %v, recent %v/%v (listed/on disk); deleted but held on disk %v",
			listed0, exists(ids[0]), listed1, listed2, exists(ids[2]), exists(del))
	}
	if _, ok := l.Live("room3"); !ok {
		t.Error("retention touched the live recording")
	}
	releaseOld()
	releaseDel()
	releaseDel() // idempotent
	l.retentionPass(context.Background())
	waitGone(t, exists, ids[0], del)
	if _, ok := l.Recording(ids[0]); ok {
		t.Error("a released recording over MaxAge is still listed")
	}
	live.close()
}

// TestRetentionBytes: MaxRoomBytes removes a room's oldest recordings until the room fits;
// MaxBytes does the same over all rooms.
func TestRetentionBytes(t *testing.T) {
	dir := t.TempDir()
	a1 := record(t, dir, "a", t0, 5*time.Second, true)
	a2 := record(t, dir, "a", t0.Add(time.Hour), 5*time.Second, true)
	b1 := record(t, dir, "b", t0.Add(2*time.Hour), 5*time.Second, true)
	l := openLib(t, dir, Options{RetentionInterval: time.Hour})
	recA2, _ := l.Recording(a2)
	recB1, _ := l.Recording(b1)
	l.opts.MaxRoomBytes = recA2.Bytes + 1
	l.retentionPass(context.Background())
	if _, ok := l.Recording(a1); ok {
		t.Errorf("room a over MaxRoomBytes kept its oldest recording")
	}
	if _, ok := l.Recording(a2); !ok {
		t.Errorf("room a lost its newest recording too")
	}
	l.opts.MaxRoomBytes = 0
	l.opts.MaxBytes = recB1.Bytes + 1
	l.retentionPass(context.Background())
	if recs := l.Recordings(""); len(recs) != 1 || recs[0].ID != b1 {
		t.Errorf("over MaxBytes: %+v, want only %s", recs, b1)
	}
}

// segmentKeyOf returns the key of a stored segment of recording id (listed or held).
func segmentKeyOf(t *testing.T, l *Library, id string) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.recs[id]
	if rec == nil {
		rec = l.doomed[id]
	}
	if rec == nil || rec.rends["hi"] == nil || len(rec.rends["hi"].segs) == 0 {
		t.Fatalf("recording %s has no stored segment", id)
	}
	return rec.rends["hi"].segs[0].Key
}

// waitGone waits until none of names (recordings, paths) exists on disk.
func waitGone(t *testing.T, exists func(string) bool, names ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left := slices.DeleteFunc(slices.Clone(names), func(name string) bool { return !exists(name) })
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still on disk: %v", left)
		}
	}
}

// TestRetentionTrimsLiveRecording: a live recording over MaxAge loses the segments that
// ended before the cut (index rewritten, bytes removed, init segments in use kept) but
// never its newest KeepLive; it goes on recording, and a reopened Library sees the same.
func TestRetentionTrimsLiveRecording(t *testing.T) {
	dir := t.TempDir()
	now := t0.Add(time.Hour + 10*time.Second) // cut: t0 + 10 s
	l := openLib(t, dir, Options{MaxAge: time.Hour, KeepLive: 5 * time.Second, RetentionInterval: time.Hour,
		Now: func() time.Time { return now }})
	f := newFeed(t, "room1", l, t0)
	f.until(20 * time.Second)
	waitDrained(t, l)
	live, _ := l.Live("room1")
	before, _ := l.Segments(live.ID, "hi")
	l.retentionPass(context.Background())
	var after []Segment
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if after, _ = l.Segments(live.ID, "hi"); len(after) < len(before) {
			break
		}
	}
	cut := t0.Add(10 * time.Second)
	if len(after) == 0 || len(after) >= len(before) || !after[0].PDT.Before(cut.Add(3*time.Second)) {
		t.Fatalf("trim at %v: %d segments before, %d after, first %v", cut, len(before), len(after), after[0].PDT)
	}
	for _, s := range after {
		if !s.End().After(cut) {
			t.Errorf("segment %d ends %v, by the cut %v", s.MSN, s.End(), cut)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // they go after the listing
		if _, err := l.Read(context.Background(), before[0].Key); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a trimmed segment's bytes are still stored")
		}
	}
	if _, err := l.Read(context.Background(), after[0].InitKey); err != nil {
		t.Errorf("the init segment in use was removed: %v", err)
	}
	f.until(30 * time.Second)
	f.close()
	waitDrained(t, l)
	final, _ := l.Segments(live.ID, "hi")
	closeLib(t, l)
	l = openLib(t, dir, Options{})
	reopened, err := l.Segments(live.ID, "hi")
	if err != nil || len(reopened) != len(final) || reopened[0].MSN != after[0].MSN || len(final) <= len(after) {
		t.Fatalf("after reopening: %d segments (%v), had %d from MSN %d", len(reopened), err, len(final), after[0].MSN)
	}
}
