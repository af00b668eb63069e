package hls

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// asyncGet starts a request in its own goroutine; the recorder arrives on the channel.
func asyncGet(h http.Handler, url string) <-chan *httptest.ResponseRecorder {
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- get(h, url) }()
	return done
}

// published reports whether part idx of segment msn of track tr is out.
func published(tr *Track, msn uint64, idx int) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.partLocked(msn, idx) != nil || tr.segmentLocked(msn) != nil && idx >= len(tr.segmentLocked(msn).parts)
}

// TestBlockingReloadReturnsWithThePart asks for the part the hint names, for each of a
// dozen parts in a row: no answer while it is not out, an answer containing it as soon as
// it is, for both a video and the audio rendition.
func TestBlockingReloadReturnsWithThePart(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	f.feedUntil(3 * time.Second)
	for _, r := range []string{"hi", AudioRendition} {
		tr := s.track(r)
		for range 12 {
			pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
			msn, idx := pl.hintPos(t)
			url := fmt.Sprintf("/hls/room1/%s/index.m3u8?_HLS_msn=%d&_HLS_part=%d", r, msn, idx)
			done := asyncGet(sv, url)
			for !published(tr, msn, idx) {
				select {
				case rec := <-done:
					t.Fatalf("%s: answered %d before part %d.%d was out", url, rec.Code, msn, idx)
				case <-time.After(5 * time.Millisecond):
				}
				if err := f.writeNext(); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case rec := <-done:
				next := parseMedia(t, rec.Body.String())
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), fmt.Sprintf("part%d.%d.m4s", msn, idx)) &&
					!hasCompleteSegment(next, msn) {
					t.Fatalf("%s: %d without the part:\n%s", url, rec.Code, rec.Body)
				}
				if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=6" {
					t.Errorf("blocking reload Cache-Control %q", cc)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no answer 5s after the part was out", url)
			}
		}
	}
}

func hasCompleteSegment(pl *mediaPL, msn uint64) bool {
	for _, s := range pl.segments {
		if s.complete && s.msn == msn {
			return true
		}
	}
	return false
}

func TestBlockingReloadDirectives(t *testing.T) {
	cfg := testCfg
	cfg.BlockTimeout = 600 * time.Millisecond
	s, sv, f := newTestStream(t, cfg, "hi")
	f.feedUntil(5*time.Second + 100*time.Millisecond)
	tr := s.track("hi")
	tr.mu.Lock()
	cm, np := tr.edgeLocked()
	last := tr.segs[len(tr.segs)-1]
	oldest := tr.segs[0].msn
	tr.mu.Unlock()
	base := "/hls/room1/hi/index.m3u8?"
	cases := []struct {
		name  string
		query string
		code  int
		slow  bool // answered only after BlockTimeout
	}{
		{"msn not a number", "_HLS_msn=abc", 400, false},
		{"negative msn", "_HLS_msn=-1", 400, false},
		{"msn overflows", "_HLS_msn=99999999999999999999999", 400, false},
		{"part without msn", "_HLS_part=1", 400, false},
		{"negative part", fmt.Sprintf("_HLS_msn=%d&_HLS_part=-2", cm), 400, false},
		{"bad skip", "_HLS_skip=maybe", 400, false},
		{"msn three segments ahead", fmt.Sprintf("_HLS_msn=%d", cm+3), 400, false},
		{"part beyond the advance part limit", fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", cm, np+9), 400, false},
		{"part two segments ahead", fmt.Sprintf("_HLS_msn=%d&_HLS_part=3", cm+2), 400, false},
		{"published part", fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", cm, np-1), 200, false},
		{"complete segment", fmt.Sprintf("_HLS_msn=%d", last.msn), 200, false},
		{"segment gone from the window", fmt.Sprintf("_HLS_msn=%d&_HLS_part=0", oldest-5), 200, false},
		{"part past a complete segment's last means next segment's part 0", fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", last.msn, len(last.parts)), 200, false},
		{"next part times out", fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", cm, np), 503, true},
		{"segment in progress times out", fmt.Sprintf("_HLS_msn=%d", cm), 503, true},
		{"next segment's first part times out", fmt.Sprintf("_HLS_msn=%d&_HLS_part=0", cm+1), 503, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rec := get(sv, base+tc.query)
			took := time.Since(start)
			if rec.Code != tc.code {
				t.Fatalf("%s: %d %s, want %d", tc.query, rec.Code, rec.Body, tc.code)
			}
			if tc.slow != (took >= cfg.BlockTimeout) || took > cfg.BlockTimeout+time.Second {
				t.Errorf("%s answered after %v (block timeout %v)", tc.query, took, cfg.BlockTimeout)
			}
			if rec.Code != 200 && rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("error cached: %q", rec.Header().Get("Cache-Control"))
			}
		})
	}
}

func TestPreloadHintPart(t *testing.T) {
	cfg := testCfg
	cfg.BlockTimeout = 400 * time.Millisecond
	s, sv, f := newTestStream(t, cfg, "hi")
	f.feedUntil(3 * time.Second)
	tr := s.track("hi")
	pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	msn, idx := pl.hintPos(t)
	done := asyncGet(sv, "/hls/room1/hi/"+pl.hint)
	if rec := get(sv, fmt.Sprintf("/hls/room1/hi/part%d.%d.m4s", msn, idx+1)); rec.Code != 404 {
		t.Errorf("part after the hinted one: %d, want 404 at once", rec.Code)
	}
	if rec := get(sv, fmt.Sprintf("/hls/room1/hi/seg%d.m4s", msn)); rec.Code != 404 {
		t.Errorf("segment in progress: %d, want 404", rec.Code)
	}
	for !published(tr, msn, idx) {
		select {
		case rec := <-done:
			t.Fatalf("hinted part answered %d before it was out", rec.Code)
		case <-time.After(5 * time.Millisecond):
		}
		if err := f.writeNext(); err != nil {
			t.Fatal(err)
		}
	}
	rec := <-done
	tr.mu.Lock()
	want := tr.partLocked(msn, idx)
	tr.mu.Unlock()
	if rec.Code != 200 || rec.Body.String() != string(want) || rec.Header().Get("Cache-Control") != cacheImmutable {
		t.Fatalf("hinted part: %d, %d bytes (want %d), Cache-Control %q", rec.Code, rec.Body.Len(), len(want), rec.Header().Get("Cache-Control"))
	}
	// No writes: the next hinted part times out with 503; after Close, hinted parts are 404.
	pl = parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	if rec := get(sv, "/hls/room1/hi/"+pl.hint); rec.Code != 503 {
		t.Errorf("hinted part never written: %d, want 503", rec.Code)
	}
	done = asyncGet(sv, "/hls/room1/hi/"+pl.hint)
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case rec := <-done:
		// Close packages the pending sample, which may well be the hinted part.
		if rec.Code != 200 && rec.Code != 404 {
			t.Errorf("hinted part at Close: %d", rec.Code)
		}
	case <-time.After(time.Second):
		t.Fatal("Close did not release a blocked part request")
	}
}

func TestCloseEndsBlockingReloads(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	f.feedUntil(3 * time.Second)
	var dones []<-chan *httptest.ResponseRecorder
	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		msn, _ := pl.hintPos(t)
		dones = append(dones, asyncGet(sv, fmt.Sprintf("/hls/room1/%s/index.m3u8?_HLS_msn=%d&_HLS_part=0", r, msn+1)))
	}
	time.Sleep(50 * time.Millisecond)
	s.Close()
	for _, done := range dones {
		select {
		case rec := <-done:
			pl := parseMedia(t, rec.Body.String())
			if rec.Code != 200 || !pl.endlist || pl.hint != "" || len(pl.reports) != 0 {
				t.Errorf("blocked reload at Close: %d, endlist %v, hint %q:\n%s", rec.Code, pl.endlist, pl.hint, rec.Body)
			}
		case <-time.After(time.Second):
			t.Fatal("Close did not release a blocking reload")
		}
	}
	if err := s.track("hi").WriteSample(f.sample(0, 0)); err != ErrClosed {
		t.Errorf("write after Close: %v, want ErrClosed", err)
	}
}

// TestManyBlockedReaders: 200 blocked reloads and 20 preload-hint requests for the same
// next part are all answered by the one write that publishes it.
func TestManyBlockedReaders(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi")
	f.feedUntil(3 * time.Second)
	tr := s.track("hi")
	pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	msn, idx := pl.hintPos(t)
	urls := map[string]int{
		fmt.Sprintf("/hls/room1/hi/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, idx):               150,
		fmt.Sprintf("/hls/room1/hi/index.m3u8?_HLS_msn=%d&_HLS_part=%d&_HLS_skip=YES", msn, idx): 50,
		"/hls/room1/hi/" + pl.hint: 20,
	}
	var wg sync.WaitGroup
	answered := make(chan time.Time, 220)
	bad := make(chan string, 220)
	for url, n := range urls {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := get(sv, url)
				answered <- time.Now()
				if body, _ := io.ReadAll(rec.Body); rec.Code != 200 || len(body) == 0 {
					bad <- fmt.Sprintf("%s: %d %s", url, rec.Code, body)
				}
			}()
		}
	}
	time.Sleep(200 * time.Millisecond) // let them all block
	if len(answered) != 0 {
		t.Fatalf("%d requests answered before the part was out", len(answered))
	}
	var out time.Time
	for !published(tr, msn, idx) {
		if err := f.writeNext(); err != nil {
			t.Fatal(err)
		}
		out = time.Now()
	}
	wg.Wait()
	close(answered)
	close(bad)
	for b := range bad {
		t.Error(b)
	}
	var slowest time.Duration
	for at := range answered {
		slowest = max(slowest, at.Sub(out))
	}
	t.Logf("220 blocked requests answered, the last %v after the part was out", slowest)
}
