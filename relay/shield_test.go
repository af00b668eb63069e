package relay_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/relay"
)

// A 320x240 constrained-baseline SPS and its PPS (from libx264).
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80}
	testPPS = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

// countingHandler counts the requests per URL (path and query) that reach h.
type countingHandler struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n[r.URL.RequestURI()]++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *countingHandler) count(uri string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[uri]
}

// feedStream writes a 30 fps H.264 rendition "hi" (a keyframe a second) into a room's
// stream in real time until ctx ends.
func feedStream(t *testing.T, ctx context.Context, sv *hls.Server, room string) {
	log, _ := testkit.NewLogger(t)
	s := hls.NewStream(room, hls.Config{}, log)
	t.Cleanup(s.Close)
	tr, err := s.AddVideo("hi", hls.VideoTrackInfo{Codec: "avc1.42c00d", Width: 320, Height: 240, FPS: 30, BitrateKbps: 300, SPS: testSPS, PPS: testPPS})
	if err != nil {
		t.Fatal(err)
	}
	sv.Add(room, s)
	testkit.Go(t, ctx, func(ctx context.Context) {
		tk := time.NewTicker(time.Second / 30)
		defer tk.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			nal := bytes.Repeat([]byte{0x41, byte(n)}, 500)
			if n%30 == 0 {
				nal[0] = 0x65
			}
			au := binary.BigEndian.AppendUint32(nil, uint32(len(nal)))
			dts := time.Duration(n) * time.Second / 30
			if err := tr.WriteSample(hls.Sample{Data: append(au, nal...), DTS: dts, PTS: dts, Keyframe: n%30 == 0}); err != nil {
				t.Errorf("write sample: %v", err)
				return
			}
		}
	})
}

var preloadHint = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s"`)

// get fetches url and returns status, Cache-Control and body.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Cache-Control"), string(body)
}

// TestShieldCoalescesBlockingRequests: node b serves a room transcoded on a. For each of
// several upcoming parts, 20 clients of b block on the playlist reload that names it and 20
// on the part itself: a sees exactly one request of each, and every client gets the answer
// with a's cache headers.
func TestShieldCoalescesBlockingRequests(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	log, _ := testkit.NewLogger(t)
	originHLS := hls.NewServer(log)
	origin := &countingHandler{h: originHLS, n: map[string]int{}}
	a := httptest.NewServer(origin)
	t.Cleanup(a.Close)
	feedStream(t, ctx, originHLS, "show")

	r := newRoutes()
	r.urls["a"] = a.URL
	r.route("b", "show", "a")
	edgeHLS := hls.NewServer(log)
	shield, err := relay.NewShield(relay.ShieldOptions{Local: edgeHLS, Has: edgeHLS.Has, Locator: locator{r, "b"}, NodeID: "b", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b := httptest.NewServer(shield)
	t.Cleanup(b.Close)

	var playlist string
	testkit.Eventually(t, ctx, "a playlist with a preload hint through b", func() bool {
		status, _, body := get(t, b.URL+"/hls/show/hi/index.m3u8")
		playlist = body
		return status == http.StatusOK && preloadHint.MatchString(body)
	})
	m := preloadHint.FindStringSubmatch(playlist)
	msn, _ := strconv.Atoi(m[1])
	idx, _ := strconv.Atoi(m[2])
	var lastPart string
	for range 4 {
		reload := fmt.Sprintf("/hls/show/hi/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, idx)
		part := fmt.Sprintf("/hls/show/hi/part%d.%d.m4s", msn, idx)
		lastPart = part
		answers := concurrentGets(t, b.URL, map[string]int{reload: 20, part: 20})
		for uri, want := range map[string]string{reload: "public, max-age=6", part: "public, max-age=31536000, immutable"} {
			if n := origin.count(uri); n != 1 {
				t.Errorf("%s: %d origin requests for 20 clients; want 1", uri, n)
			}
			for _, a := range answers[uri] {
				if a.status != http.StatusOK || a.cacheControl != want || a.body != answers[uri][0].body {
					t.Fatalf("%s: %d %q (%d bytes); want 200 %q, the same body for all", uri, a.status, a.cacheControl, len(a.body), want)
				}
			}
		}
		m := preloadHint.FindStringSubmatch(answers[reload][0].body)
		msn, _ = strconv.Atoi(m[1])
		idx, _ = strconv.Atoi(m[2])
	}
	checkEncodingAndRange(t, b.URL, lastPart)
	if status, _, _ := get(t, b.URL+"/hls/nowhere/index.m3u8"); status != http.StatusNotFound {
		t.Errorf("a room live nowhere: %d; want 404", status)
	}
	t.Logf("origin requests in all: %d", shield.Fetches())
}

type shieldAnswer struct {
	status             int
	cacheControl, body string
}

// concurrentGets sends n concurrent GETs of each uri to base and returns the answers.
func concurrentGets(t *testing.T, base string, n map[string]int) map[string][]shieldAnswer {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string][]shieldAnswer{}
	for uri, count := range n {
		for range count {
			wg.Go(func() {
				status, cc, body := get(t, base+uri)
				mu.Lock()
				out[uri] = append(out[uri], shieldAnswer{status, cc, body})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return out
}

// checkEncodingAndRange: through the shield a playlist comes gzipped to a client that
// accepts it and plain to one that does not, and a part honours Range.
func checkEncodingAndRange(t *testing.T, base, part string) {
	t.Helper()
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, gz := range []bool{true, false} {
		req, _ := http.NewRequest(http.MethodGet, base+"/hls/show/hi/index.m3u8", nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		enc := resp.Header.Get("Content-Encoding")
		if gz && enc != "gzip" || !gz && (enc != "" || !strings.HasPrefix(string(body), "#EXTM3U")) {
			t.Errorf("playlist (client accepts gzip: %v): Content-Encoding %q, body %.20q", gz, enc, body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+part, nil)
	req.Header.Set("Range", "bytes=0-9")
	resp, err := raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || len(body) != 10 {
		t.Errorf("range of %s: %d with %d bytes; want 206 with 10", part, resp.StatusCode, len(body))
	}
}
