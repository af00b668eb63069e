package dvr

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/dvr/s3test"
	"github.com/glint-video/glint/hls"
)

// sinkTimer is a SegmentSink in front of the Library that measures, per phase of the test,
// how long each sink call holds hls's writer, and each part's latency: when it became
// servable (PartFinished is called right then) after its last sample's capture time.
type sinkTimer struct {
	next    hls.SegmentSink
	start   time.Time // the capture time of media time 0
	mu      sync.Mutex
	phase   string
	calls   map[string][]time.Duration
	latency map[string][]time.Duration
	partEnd map[string]time.Duration // per rendition: media time at the end of its last part
}

func newSinkTimer(next hls.SegmentSink, start time.Time) *sinkTimer {
	return &sinkTimer{next: next, start: start, phase: "healthy", calls: map[string][]time.Duration{},
		latency: map[string][]time.Duration{}, partEnd: map[string]time.Duration{}}
}

func (s *sinkTimer) setPhase(p string) { s.mu.Lock(); s.phase = p; s.mu.Unlock() }

func (s *sinkTimer) PartFinished(p hls.FinishedPart) {
	servable := time.Now()
	s.next.PartFinished(p)
	took := time.Since(servable)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[s.phase] = append(s.calls[s.phase], took)
	s.partEnd[p.Rendition] += p.Duration
	s.latency[s.phase] = append(s.latency[s.phase], servable.Sub(s.start.Add(s.partEnd[p.Rendition])))
}

func (s *sinkTimer) SegmentFinished(fs hls.FinishedSegment) {
	called := time.Now()
	s.next.SegmentFinished(fs)
	took := time.Since(called)
	s.mu.Lock()
	s.calls[s.phase] = append(s.calls[s.phase], took)
	s.mu.Unlock()
}

func (s *sinkTimer) StreamClosed(room string) { s.next.StreamClosed(room) }

// quantiles formats the median, 99th percentile and maximum of ds.
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	ds = slices.Sorted(slices.Values(ds))
	q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))].Round(time.Microsecond) }
	return fmt.Sprintf("p50 %v p99 %v max %v (n=%d)", q(0.5), q(0.99), ds[len(ds)-1].Round(10*time.Microsecond), len(ds))
}

// feedRealTime writes f's pictures at the pace of their capture times until media time
// until, then closes the stream; it reports the first write error.
func feedRealTime(f *feed, until time.Duration) error {
	defer f.stream.Close()
	for ; ; f.next++ {
		dts := time.Duration(f.next) * time.Second / feedFPS
		if dts >= until {
			return nil
		}
		time.Sleep(time.Until(f.start.Add(dts)))
		for i, tr := range f.tracks {
			au := f.aus[i][f.next%len(f.aus[i])]
			err := tr.WriteSample(hls.Sample{Data: au.Data, DTS: dts, PTS: dts, Keyframe: au.Keyframe,
				Duration: time.Second / feedFPS, CaptureTime: f.start.Add(dts)})
			if err != nil {
				return fmt.Errorf("%s picture %d: %w", tr.Rendition(), f.next, err)
			}
		}
	}
}

// metricValue reads one of the Library's metrics as Prometheus scrapes it.
func metricValue(t *testing.T, l *Library, name string) float64 {
	t.Helper()
	mfs, err := registry(l).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestS3StalledStoreKeepsLiveParts: a live recording to S3 whose server hangs (SIGSTOP) and
// then dies (killed: refused) in the middle. hls's writer is never held up by the store: no
// sink call waits anywhere near the store's 1 s timeout, so parts are published for live
// viewers as without a stall (the latencies are logged per phase). The recorder drops what
// it cannot store, counts it in its metrics, marks the next stored segment Gap, and records
// again once the server is back.
func TestS3StalledStoreKeepsLiveParts(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	const storeTimeout = time.Second
	l := openLib(t, dir, Options{Store: newS3Store(t, srv, "", storeTimeout), StoreRetries: 1, RetryBackoff: 50 * time.Millisecond})
	clip(t, 320, 240) // the pictures are encoded before the clock starts
	clip(t, 160, 120)
	start := time.Now().Add(200 * time.Millisecond)
	told := newTee(l)
	timer := newSinkTimer(told, start)
	f := newFeed(t, "room1", timer, start)

	const phase = 6 * time.Second
	fed := make(chan error, 1)
	go func() { fed <- feedRealTime(f, 4*phase+2*time.Second) }()
	time.Sleep(time.Until(start.Add(phase)))
	timer.setPhase("paused")
	srv.Pause()
	time.Sleep(time.Until(start.Add(2 * phase)))
	timer.setPhase("killed")
	srv.Kill()
	time.Sleep(time.Until(start.Add(3 * phase)))
	srv.Restart()
	timer.setPhase("back")
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	closeLib(t, l)

	timer.mu.Lock()
	for _, p := range []string{"healthy", "paused", "killed", "back"} {
		t.Logf("%-7s sink calls: %s", p, quantiles(timer.calls[p]))
		t.Logf("%-7s part latency (servable after its last capture): %s", p, quantiles(timer.latency[p]))
		// The bound is a fifth of the store's timeout: a sink call that waited on the store
		// would take at least the timeout; this leaves room for a busy, race-instrumented CPU.
		if m := slices.Max(append(timer.calls[p], 0)); m > storeTimeout/5 {
			t.Errorf("%s: a sink call held hls's writer for %v", p, m)
		}
		if len(timer.calls[p]) < 20 {
			t.Errorf("%s: only %d sink calls", p, len(timer.calls[p]))
		}
	}
	timer.mu.Unlock()

	drops, errs := metricValue(t, l, "glint_dvr_dropped_segments_total"), metricValue(t, l, "glint_dvr_store_errors_total")
	t.Logf("dropped segments %v, store errors %v", drops, errs)
	if drops == 0 || errs == 0 {
		t.Errorf("dropped segments %v, store errors %v: want both counted", drops, errs)
	}
	l2 := openLib(t, dir, Options{Store: newS3Store(t, srv, "", 0)})
	recs := l2.Recordings("room1")
	if len(recs) != 1 {
		t.Fatalf("recordings: %+v, want one", recs)
	}
	back := start.Add(3*phase + time.Second)
	for _, r := range []string{"hi", "lo"} {
		segs := checkStoredAsTold(t, l2, recs[0].ID, r, told.segs[r])
		holes, after := 0, 0
		for i, s := range segs {
			hole := i > 0 && s.MSN != segs[i-1].MSN+1
			if hole {
				holes++
			}
			if s.Gap != hole {
				t.Errorf("%s: segment %d: Gap %v, after a hole %v", r, s.MSN, s.Gap, hole)
			}
			if s.PDT.After(back) {
				after++
			}
		}
		t.Logf("%s: %d of %d segments stored, %d holes, %d after the server came back", r, len(segs), len(told.segs[r]), holes, after)
		if holes == 0 || after < 2 {
			t.Errorf("%s: %d holes and %d segments stored after the server came back; want a hole and recording again", r, holes, after)
		}
	}
}
