package dvr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRecovery measures Open on a data dir a crash left behind: one interrupted
// recording of 6 hours, 4 renditions of 2 s segments (43,200 index lines; the first run
// also cuts a torn last line from each index). It is the DVR's share of the restart time
// after kill -9.
func BenchmarkRecovery(b *testing.B) {
	const renditions, segments = 4, 6 * 3600 / 2
	dir := b.TempDir()
	id := newRecordingID("room1", t0, 1)
	store, err := NewDiskStore(filepath.Join(dir, "dvr"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range renditions {
		r := fmt.Sprintf("r%d", i)
		var idx []byte
		var last Segment
		for n := range segments {
			last = Segment{MSN: uint64(n), Key: segmentKey(id, r, uint64(n)), InitKey: initKey(id, r, 0), Bytes: 400_000,
				Duration: 2 * time.Second, PDT: t0.Add(time.Duration(n) * 2 * time.Second), Independent: true}
			line, _ := json.Marshal(last)
			idx = append(append(idx, line...), '\n')
		}
		idx = append(idx, `{"msn":`...) // torn
		for key, size := range map[string]int{last.Key: 400_000, last.InitKey: 800} {
			if err := store.Put(ctx, key, make([]byte, size)); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "dvr", renditionDir(id, r), indexFile), idx, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	meta := recordingMeta{ID: id, Room: "room1", Start: t0}
	for b.Loop() {
		b.StopTimer()
		if err := writeMeta(filepath.Join(dir, "dvr", recordingDir(id), recordingFile), meta); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		l, err := Open(ctx, Options{DataDir: dir, Log: quietLog()})
		if err != nil {
			b.Fatal(err)
		}
		if segs, _ := l.Segments(id, "r0"); len(segs) != segments {
			b.Fatalf("%d segments recovered, want %d", len(segs), segments)
		}
		_ = l.Close(ctx)
	}
	b.ReportMetric(renditions*segments, "segments")
}
