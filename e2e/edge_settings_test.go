package e2e

import (
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkEdgeSettings checks, through a running edge, the settings of docs/caching-edge.md
// that the pollers do not exercise: gzip passed through (and unzipped for a client without
// gzip), playlists not served past their max-age, errors kept at most a second (collapsed
// meanwhile on Varnish; nginx lets them through one by one, logged) and, on Varnish, the
// blocking-reload query sorted into one key.
func checkEdgeSettings(t *testing.T, kind, edge, dir string, counter *originCounter) {
	t.Helper()
	plain := edge + dir + "index.m3u8"
	tr := &http.Transport{DisableCompression: true, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	for _, gz := range []bool{true, false} {
		body, enc := fetchPlaylist(t, client, plain, gz)
		if gz != (enc == "gzip") || !strings.HasPrefix(body, "#EXTM3U") {
			t.Errorf("%s: playlist with gzip accepted=%v: Content-Encoding %q, body %.40q", kind, gz, enc, body)
		}
	}

	// A playlist is not served past its max-age (1 s): a while after the edge had it, its
	// answer is at least as new as what the origin had just before the request.
	fetchPlaylist(t, client, plain, true)
	time.Sleep(pastMaxAge)
	direct, err := parseMediaList(mustPlaylist(t, client, counter.originURL(dir+"index.m3u8")))
	if err != nil {
		t.Fatalf("playlist from the origin: %v", err)
	}
	viaEdge, err := parseMediaList(mustPlaylist(t, client, plain))
	if err != nil {
		t.Fatalf("playlist through %s: %v", kind, err)
	}
	if viaEdge.hint.cmp(direct.hint) < 0 {
		t.Errorf("%s: served a stale playlist: hint %s, the origin had %s before the request", kind, viaEdge.hint, direct.hint)
	}

	// Errors: a crowd asking for an unknown room; again once a second has surely passed.
	counter.reset()
	missing := "/hls/no-such-room/index.m3u8"
	begin := time.Now()
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() { codes[i], _ = clientGet(client, edge+missing) })
	}
	wg.Wait()
	burst := time.Since(begin)
	first := counter.snapshot()[missing+"?"].requests
	for _, c := range codes {
		if c != http.StatusNotFound {
			t.Fatalf("%s: unknown room answered %v, want 404 for all", kind, codes)
		}
	}
	t.Logf("%s: 20 concurrent requests for an unknown room: %d reached the origin in %v", kind, first, burst.Round(time.Millisecond))
	if bound := 1 + int(math.Ceil(burst.Seconds())); kind == "varnish" && first > bound {
		t.Errorf("varnish: 20 concurrent requests for a 404 reached the origin %d times in %v, want ≤ %d (one per second kept)", first, burst, bound)
	}
	time.Sleep(pastMaxAge)
	if code, _ := clientGet(client, edge+missing); code != http.StatusNotFound {
		t.Errorf("%s: unknown room answered %d, want 404", kind, code)
	}
	if again := counter.snapshot()[missing+"?"].requests; again <= first {
		t.Errorf("%s: a 404 was still served from the cache %v later (origin requests %d, then %d)", kind, pastMaxAge, first, again)
	}

	if kind != "varnish" {
		return // nginx cannot sort the query: docs/caching-edge.md says so
	}
	l, err := parseMediaList(mustPlaylist(t, client, plain))
	if err != nil || len(l.parts) == 0 {
		t.Fatalf("playlist through %s: %v", kind, err)
	}
	last := l.parts[len(l.parts)-1]
	counter.reset()
	sorted := fmt.Sprintf("index.m3u8?_HLS_msn=%d&_HLS_part=%d", last.msn, last.idx)
	reversed := fmt.Sprintf("index.m3u8?_HLS_part=%d&_HLS_msn=%d", last.idx, last.msn)
	for _, q := range []string{sorted, reversed} {
		if code, body := clientGet(client, edge+dir+q); code != http.StatusOK {
			t.Fatalf("%s: %s: %d %.100s", kind, q, code, body)
		}
	}
	got := counter.snapshot()
	if got[dir+sorted].requests != 1 || got[dir+reversed].requests != 0 {
		t.Errorf("varnish: one blocking reload with its parameters in two orders reached the origin as %d + %d requests, want 1 + 0",
			got[dir+sorted].requests, got[dir+reversed].requests)
	}
}

// pastMaxAge is surely past a 1-second max-age on both edges: nginx keeps time in whole
// seconds and serves an entry until the end of the second it expires in, so max-age=1 can
// last up to 2 s there.
const pastMaxAge = 2200 * time.Millisecond

// fetchPlaylist GETs a playlist, accepting gzip or not, and returns it unzipped with the
// Content-Encoding it came with.
func fetchPlaylist(t *testing.T, client *http.Client, u string, gz bool) (string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var r io.Reader = resp.Body
	enc := resp.Header.Get("Content-Encoding")
	if enc == "gzip" {
		if r, err = gzip.NewReader(resp.Body); err != nil {
			t.Fatalf("GET %s: gzip: %v", u, err)
		}
	}
	body, err := io.ReadAll(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %.100s", u, resp.StatusCode, err, body)
	}
	return string(body), enc
}

func mustPlaylist(t *testing.T, client *http.Client, u string) string {
	t.Helper()
	body, _ := fetchPlaylist(t, client, u, true)
	return body
}

func clientGet(client *http.Client, u string) (int, string) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
