package dvr

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/glint-video/glint/hls"
)

var t0 = time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)

// openLib opens a Library on dir with quiet logs and the test's options.
func openLib(t testing.TB, dir string, o Options) *Library {
	t.Helper()
	o.DataDir = dir
	if o.Log == nil {
		o.Log = quietLog()
	}
	l, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func closeLib(t testing.TB, l *Library) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// tee is a sink that keeps what the Stream told and passes it on.
type tee struct {
	next hls.SegmentSink
	mu   sync.Mutex
	segs map[string][]hls.FinishedSegment
}

func newTee(next hls.SegmentSink) *tee {
	return &tee{next: next, segs: map[string][]hls.FinishedSegment{}}
}

func (s *tee) PartFinished(p hls.FinishedPart) { s.next.PartFinished(p) }
func (s *tee) SegmentFinished(f hls.FinishedSegment) {
	s.mu.Lock()
	s.segs[f.Rendition] = append(s.segs[f.Rendition], f)
	s.mu.Unlock()
	s.next.SegmentFinished(f)
}
func (s *tee) StreamClosed(room string) { s.next.StreamClosed(room) }

// TestRecorderStoresEverySegment: a real hls.Stream with two renditions feeds the Library;
// every segment of every rendition is stored once, in order, with the bytes hls served
// and its init segment, the index lists them, and a reopened Library sees the same.
func TestRecorderStoresEverySegment(t *testing.T) {
	dir := t.TempDir()
	l := openLib(t, dir, Options{})
	told := newTee(l)
	f := newFeed(t, "room1", told, t0)
	f.until(12 * time.Second)
	f.close()
	closeLib(t, l)

	l2 := openLib(t, dir, Options{})
	recs := l2.Recordings("room1")
	if len(recs) != 1 {
		t.Fatalf("recordings: %+v, want one", recs)
	}
	rec := recs[0]
	if rec.ID != "room1.20261205T210000Z" || rec.Live || rec.Interrupted || rec.End.IsZero() || len(rec.Renditions) != 2 {
		t.Fatalf("recording %+v", rec)
	}
	var total int64
	for _, r := range []string{"hi", "lo"} {
		segs, err := l2.Segments(rec.ID, r)
		if err != nil {
			t.Fatal(err)
		}
		want := told.segs[r]
		if len(segs) != len(want) || len(want) < 5 {
			t.Fatalf("%s: %d segments stored, %d told", r, len(segs), len(want))
		}
		for i, s := range segs {
			w := want[i]
			if s.MSN != w.MSN || s.Duration != w.Duration || !s.PDT.Equal(w.ProgramDateTime) || s.Gap || s.Bytes != int64(len(w.Data)) {
				t.Fatalf("%s: segment %d is %+v, told MSN %d %v %v", r, i, s, w.MSN, w.Duration, w.ProgramDateTime)
			}
			data, err := l2.Read(context.Background(), s.Key)
			if err != nil || !bytes.Equal(data, w.Data) {
				t.Fatalf("%s: segment %d bytes differ (%v)", r, s.MSN, err)
			}
			init, err := l2.Read(context.Background(), s.InitKey)
			if err != nil || !bytes.Equal(init, w.Init) {
				t.Fatalf("%s: init of segment %d differs (%v)", r, s.MSN, err)
			}
			total += s.Bytes
		}
		if last := segs[len(segs)-1]; rec.End.Before(last.End()) {
			t.Errorf("%s: recording ends %v before its last segment %v", r, rec.End, last.End())
		}
	}
	if rec.Bytes != total {
		t.Errorf("recording bytes %d, segments sum to %d", rec.Bytes, total)
	}
	logStoredRatio(t, dir, told)
}

// logStoredRatio logs the bytes on disk (segments, init segments, indexes, recording.json)
// against the bytes of the segments and init segments hls made: BENCHMARKS.md's "stored
// bytes vs ingest bytes of the ladder".
func logStoredRatio(t *testing.T, dir string, told *tee) {
	var made, onDisk int64
	inits := map[string]bool{}
	for r, segs := range told.segs {
		for _, s := range segs {
			made += int64(len(s.Data))
			if key := fmt.Sprint(r, s.InitID); !inits[key] {
				inits[key] = true
				made += int64(len(s.Init))
			}
		}
	}
	err := filepath.WalkDir(filepath.Join(dir, "dvr"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			fi, ierr := e.Info()
			if ierr != nil {
				return ierr
			}
			onDisk += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stored %d bytes on disk for %d bytes of segments and init segments made: %.3fx", onDisk, made, float64(onDisk)/float64(made))
	if onDisk < made || float64(onDisk) > 1.02*float64(made) {
		t.Errorf("stored %d bytes for %d made: want every byte once, plus under 2%% of index", onDisk, made)
	}
}

// gatedStore is a DiskStore whose Puts wait until the gate opens.
type gatedStore struct {
	*DiskStore
	gate    chan struct{}
	waiting chan struct{} // a Put is waiting (capacity 1)
}

func (g *gatedStore) Put(ctx context.Context, key string, data []byte) error {
	select {
	case g.waiting <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.DiskStore.Put(ctx, key, data)
}

// TestQueueFullDropsWithGap: while the store is stalled the bounded queue fills; the
// segments that do not fit are dropped (counted), the stream is never held up, and the
// next stored segment of each rendition after a hole is marked Gap, and only those.
func TestQueueFullDropsWithGap(t *testing.T) {
	dir := t.TempDir()
	disk, err := NewDiskStore(dir + "/dvr")
	if err != nil {
		t.Fatal(err)
	}
	store := &gatedStore{DiskStore: disk, gate: make(chan struct{}), waiting: make(chan struct{}, 1)}
	l := openLib(t, dir, Options{Store: store, QueueBytes: 200 << 10, Workers: 1})
	f := newFeed(t, "room1", l, t0)
	f.until(3 * time.Second)
	<-store.waiting
	f.until(25 * time.Second) // the stream goes on while the store is stalled
	if l.stats.drops.Load() == 0 {
		t.Fatal("no segment dropped with the store stalled and a 200 KiB queue")
	}
	close(store.gate)
	for d := 26 * time.Second; d <= 35*time.Second; d += time.Second { // at the pace the store keeps up with
		waitDrained(t, l)
		f.until(d)
	}
	f.close()
	closeLib(t, l)
	l2 := openLib(t, dir, Options{})
	id := "room1.20261205T210000Z"
	for _, r := range []string{"hi", "lo"} {
		segs, err := l2.Segments(id, r)
		if err != nil {
			t.Fatal(err)
		}
		holes := 0
		for i := 1; i < len(segs); i++ {
			hole := segs[i].MSN != segs[i-1].MSN+1
			if hole {
				holes++
			}
			if segs[i].Gap != hole {
				t.Errorf("%s: segment %d after %d: gap %v", r, segs[i].MSN, segs[i-1].MSN, segs[i].Gap)
			}
		}
		if holes == 0 || segs[0].Gap {
			t.Errorf("%s: %d holes, first gap %v; segments %d", r, holes, segs[0].Gap, len(segs))
		}
	}
}

// waitDrained waits until the Library's queue is empty.
func waitDrained(t testing.TB, l *Library) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, n := l.q.depth(); n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue did not drain")
		}
	}
}

// fullStore fails every Put with ErrStoreFull, as a full disk does.
type fullStore struct{ *DiskStore }

func (fullStore) Put(context.Context, string, []byte) error {
	return diskError(&os.PathError{Op: "write", Path: "seg", Err: syscall.ENOSPC})
}

// TestStoreFullIsAnAlert: a full store drops segments and raises the gauge; the stream is
// never held up and the Library keeps running.
func TestStoreFullIsAnAlert(t *testing.T) {
	dir := t.TempDir()
	disk, err := NewDiskStore(dir + "/dvr")
	if err != nil {
		t.Fatal(err)
	}
	l := openLib(t, dir, Options{Store: fullStore{disk}, StoreRetries: 1, RetryBackoff: time.Millisecond})
	f := newFeed(t, "room1", l, t0)
	f.until(7 * time.Second)
	waitDrained(t, l)
	metrics := gather(t, l)
	for _, want := range []string{"glint_dvr_store_full 1", "glint_dvr_queue_segments 0", `glint_dvr_recordings{state="live"} 0`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
	f.close()
	closeLib(t, l)
	if l.stats.drops.Load() == 0 || l.stats.storeErrors.Load() == 0 {
		t.Errorf("drops %d, store errors %d", l.stats.drops.Load(), l.stats.storeErrors.Load())
	}
	if len(l.Recordings("")) != 0 {
		t.Errorf("recordings listed without a stored segment: %+v", l.Recordings(""))
	}
}

// registry returns a Prometheus registry holding the Library's collectors.
func registry(l *Library) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(l.Collectors()...)
	return reg
}

// gather returns the Library's metrics in the text format.
func gather(t *testing.T, l *Library) string {
	t.Helper()
	families, err := registry(l).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
