package hls

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// chunkRead is one Read of a chunked segment response and when it returned.
type chunkRead struct {
	at time.Time
	n  int
}

// TestServeSegmentChunked: a segment requested before it starts is answered as it is
// produced (CMAF-CTE): its first bytes arrive before the segment is complete (timestamped
// against the Sink's SegmentFinished), without Content-Length, not cacheable, one flush per
// part; the bytes are exactly the complete segment's. Complete segments come whole and
// immutable; segments far ahead are 404.
func TestServeSegmentChunked(t *testing.T) {
	var mu sync.Mutex
	finished := map[uint64]time.Time{}
	cfg := testCfg
	cfg.Sink = SinkFuncs{Segment: func(fs FinishedSegment) {
		if fs.Rendition == "hi" {
			mu.Lock()
			finished[fs.MSN] = time.Now()
			mu.Unlock()
		}
	}}
	s, sv, f := newTestStream(t, cfg, "hi", AudioRendition)
	mux := http.NewServeMux()
	mux.Handle("/hls/", sv)
	mux.HandleFunc("/cte/{rendition}/{msn}", func(w http.ResponseWriter, r *http.Request) {
		msn, _ := strconv.ParseUint(r.PathValue("msn"), 10, 64)
		s.Track(r.PathValue("rendition")).ServeSegment(w, r, msn)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	fed := make(chan error, 1)
	go func() { fed <- f.feedRealTime(ctx, 30*time.Second) }()
	defer func() {
		cancel()
		if err := <-fed; err != nil {
			t.Error(err)
		}
	}()
	f.waitMedia(t, 2*time.Second)

	hi := s.Track("hi")
	hi.mu.Lock()
	edge, _ := hi.edgeLocked()
	hi.mu.Unlock()
	next := edge + 1 // not started yet: the request waits for it, then streams it
	resp, err := http.Get(srv.URL + "/cte/hi/" + strconv.FormatUint(next, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != -1 || !slices.Contains(resp.TransferEncoding, "chunked") ||
		resp.Header.Get("Cache-Control") != CacheIncomplete {
		t.Fatalf("early request: %d, Content-Length %d, Transfer-Encoding %v, Cache-Control %q: want 200 chunked, %q",
			resp.StatusCode, resp.ContentLength, resp.TransferEncoding, resp.Header.Get("Cache-Control"), CacheIncomplete)
	}
	var body bytes.Buffer
	var reads []chunkRead
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			reads = append(reads, chunkRead{time.Now(), n})
			body.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the chunked segment: %v", err)
		}
	}
	mu.Lock()
	done, ok := finished[next]
	mu.Unlock()
	if !ok {
		t.Fatalf("segment %d: response ended but SegmentFinished was not called", next)
	}
	if first := reads[0].at; !first.Before(done) {
		t.Errorf("first chunk at %v, segment complete at %v: want the first bytes before completion", first, done)
	} else {
		t.Logf("segment %d: first bytes %v before it completed, %d reads", next, done.Sub(first).Round(time.Millisecond), len(reads))
	}
	whole := []byte(mustGet(t, sv, "/hls/room1/hi/seg"+strconv.FormatUint(next, 10)+".m4s"))
	if !bytes.Equal(body.Bytes(), whole) {
		t.Errorf("chunked body: %d bytes; want the complete segment's %d bytes exactly", body.Len(), len(whole))
	}
	if n := len(moofs(t, whole)); len(reads) < 2 || n < 2 {
		t.Errorf("%d reads, %d parts: want the segment in several chunks", len(reads), n)
	}

	complete, err := http.Get(srv.URL + "/cte/hi/" + strconv.FormatUint(next, 10))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, complete.Body)
	complete.Body.Close()
	if complete.ContentLength != int64(len(whole)) || !strings.Contains(complete.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("complete segment: Content-Length %d, Cache-Control %q: want %d, immutable",
			complete.ContentLength, complete.Header.Get("Cache-Control"), len(whole))
	}
	far, err := http.Get(srv.URL + "/cte/hi/" + strconv.FormatUint(next+5, 10))
	if err != nil {
		t.Fatal(err)
	}
	far.Body.Close()
	if far.StatusCode != http.StatusNotFound {
		t.Errorf("segment 5 ahead: %d; want 404", far.StatusCode)
	}
}

// TestServeSegmentChunkedCutShort: when a segment's parts stop coming (the source stalls
// past the block timeout), the chunked response is aborted, not ended cleanly: a client
// (or a cache) sees an error, never a short body that looks complete.
func TestServeSegmentChunkedCutShort(t *testing.T) {
	cfg := testCfg
	cfg.BlockTimeout = 500 * time.Millisecond
	s, _, f := newTestStream(t, cfg, "hi")
	f.feedUntil(3 * time.Second) // segment 1 complete, segment 2 started; then the source stalls
	hi := s.Track("hi")
	hi.mu.Lock()
	edge, parts := hi.edgeLocked()
	hi.mu.Unlock()
	if parts == 0 {
		t.Fatalf("segment %d has no part yet", edge)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hi.ServeSegment(w, r, edge) }))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil || len(body) == 0 {
		t.Fatalf("stalled segment: %d bytes, error %v; want its parts so far, then an aborted response", len(body), err)
	}
	t.Logf("stalled segment %d: %d bytes of %d parts, then %v", edge, len(body), parts, err)
}
