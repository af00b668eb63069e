package hls

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestStreamStatsCountRequestsWaitsAndParts: each kind of request is counted, a blocking
// reload that waits for its part counts a wait (and no longer waits once answered), one that
// times out counts a timeout, playlists are rendered once per part however often they are
// asked for, and every packaged sample's part latency is counted.
func TestStreamStatsCountRequestsWaitsAndParts(t *testing.T) {
	cfg := testCfg
	cfg.BlockTimeout = 300 * time.Millisecond
	s, sv, f := newTestStream(t, cfg, "hi", AudioRendition)
	f.start = time.Now() // capture times: now + DTS, fed at the DTS pace
	if err := f.feedRealTime(context.Background(), 2500*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	mustGet(t, sv, "/hls/room1/index.m3u8")
	mustGet(t, sv, "/hls/room1/hi/index.m3u8")
	pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8")) // the same version: from the cache
	seg := pl.lastComplete()
	mustGet(t, sv, fmt.Sprintf("/hls/room1/hi/seg%d.m4s", seg.msn))
	mustGet(t, sv, "/hls/room1/hi/"+seg.parts[0].uri)
	mustGet(t, sv, "/hls/room1/hi/"+pl.tags["EXT-X-MAP"][0][len(`URI="`):strings.Index(pl.tags["EXT-X-MAP"][0], `.mp4"`)+4])

	msn, idx := pl.hintPos(t)
	timedOut := get(sv, fmt.Sprintf("/hls/room1/hi/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, idx))
	if timedOut.Code != http.StatusServiceUnavailable {
		t.Fatalf("blocking reload with no new part: %d, want 503 after BlockTimeout", timedOut.Code)
	}
	done := asyncGet(sv, fmt.Sprintf("/hls/room1/hi/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, idx))
	for deadline := time.Now().Add(5 * time.Second); s.stats.blockedNow.Load() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the blocking reload is not waiting")
		}
	}
	for !published(s.track("hi"), msn, idx) {
		if err := f.writeNext(); err != nil {
			t.Fatal(err)
		}
	}
	if rec := <-done; rec.Code != http.StatusOK {
		t.Fatalf("blocking reload: %d", rec.Code)
	}

	stats := sv.Stats()
	if len(stats) != 1 || stats[0].Room != "room1" {
		t.Fatalf("Stats() = %+v, want room1", stats)
	}
	st := stats[0]
	want := map[string]uint64{"multivariant": 1, "playlist": 2, "playlist_blocking": 2, "segment": 1, "part": 1, "init": 1}
	for kind, n := range want {
		if st.Requests[kind] != n {
			t.Errorf("requests[%s] = %d, want %d (all %v)", kind, st.Requests[kind], n, st.Requests)
		}
	}
	if st.Blocked != 2 || st.BlockTimeouts != 1 || st.BlockedNow != 0 {
		t.Errorf("blocked %d, timeouts %d, now %d; want 2, 1, 0", st.Blocked, st.BlockTimeouts, st.BlockedNow)
	}
	if st.CacheHits < 1 || st.Renders < 1 {
		t.Errorf("cache hits %d, renders %d: want the second identical playlist from the cache", st.CacheHits, st.Renders)
	}
	if m := st.PartLatency.Mean(); st.PartLatency.Count == 0 || st.AudioPartLatency.Count == 0 || m <= 0 || m > time.Second {
		t.Errorf("part latency %+v / audio %+v: want every sample counted", st.PartLatency, st.AudioPartLatency)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(sv.Collectors()...)
	if n := len(gather(t, reg)["glint_hls_requests_total"].GetMetric()); n != int(numRequestKinds) {
		t.Errorf("glint_hls_requests_total: %d series, want one per kind", n)
	}
	videoSamples := st.PartLatency.Count
	sv.Remove("room1")
	mfs := gather(t, reg)
	if n := mfs["glint_hls_streams"].GetMetric()[0].GetGauge().GetValue(); n != 0 {
		t.Errorf("glint_hls_streams = %v after Remove", n)
	}
	for _, m := range mfs["glint_hls_part_latency_seconds"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "video" && m.GetHistogram().GetSampleCount() != videoSamples {
			t.Errorf("part latency count after Remove = %d, want %d (kept)", m.GetHistogram().GetSampleCount(), videoSamples)
		}
	}
}

// gather scrapes reg, by metric family name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}
