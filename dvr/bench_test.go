package dvr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
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

// BenchmarkSegmentFinished measures what the DVR adds to an LL-HLS rendition's writer
// goroutine per segment (the hls.SegmentSink call that queues it); the store is stalled
// and the queue emptied between batches, so that only queueing is measured.
func BenchmarkSegmentFinished(b *testing.B) {
	dir := b.TempDir()
	disk, err := NewDiskStore(filepath.Join(dir, "dvr"))
	if err != nil {
		b.Fatal(err)
	}
	store := &gatedStore{DiskStore: disk, gate: make(chan struct{}), waiting: make(chan struct{}, 1)}
	l, err := Open(context.Background(), Options{DataDir: dir, Store: store, Log: quietLog(), QueueBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_ = l.Close(ctx) // the stalled store gives up at once
	}()
	seg := hls.FinishedSegment{Room: "room1", Rendition: "hi", Data: make([]byte, 500_000), Parts: 6,
		Duration: 2 * time.Second, ProgramDateTime: t0, Independent: true, InitID: 1, Init: make([]byte, 800), InitChanged: true}
	n := 0
	for b.Loop() {
		seg.MSN++
		l.SegmentFinished(seg)
		if n++; n%1000 == 0 {
			b.StopTimer()
			l.q.mu.Lock()
			clear(l.q.lanes)
			l.q.bytes, l.q.segments = 0, 0
			l.q.mu.Unlock()
			b.StartTimer()
		}
	}
	if l.stats.drops.Load() != 0 {
		b.Fatalf("%d segments dropped", l.stats.drops.Load())
	}
}
