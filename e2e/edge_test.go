package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// The caching-edge tests put the configs of docs/edge/ (Varnish, nginx) in front of a real
// `glint serve` with LL-HLS on and `glint demo` publishing, with a counting reverse proxy
// between edge and origin:
//
//	pollers (Go, in the test) → edge (varnishd / nginx) → originCounter (in the test) → glint serve
//
// The counter tells how many requests per URL reached the origin and when the origin first
// answered each, so that the delay an edge adds to a collapsed request can be measured.

// TestCachingEdge runs 60 LL-HLS pollers for 20 s through each edge. Varnish, the edge
// docs/caching-edge.md recommends, must collapse them into about one origin request per new
// part for each of the blocking playlist and the part: at most 1.5 on average (measured:
// 1.00). That leaves room for a preload hint that a segment's end turns into a 404 (at most
// one per segment of 6 parts), for an error kept only a second and asked again, and for the
// run's first and last parts, but fails an edge that lets even every other poller through
// (30). nginx is measured (origin requests and added delay, logged). Through both, every
// poller must get every part, the room's event stream (Server-Sent Events) must pass
// unbuffered and stay open, and checkEdgeSettings checks the documented settings.
func TestCachingEdge(t *testing.T) {
	requireFFmpeg(t)
	varnishd, nginx := requireEdgeTools(t)
	origin, dir := startHLSOrigin(t)
	const pollers, run = 60, 20 * time.Second
	for _, tc := range []struct {
		name       string
		start      func(t *testing.T, backend string) string
		maxPerPart float64 // 0: measured only
	}{
		{"varnish", func(t *testing.T, backend string) string { return startVarnish(t, varnishd, backend) }, 1.5},
		{"nginx", func(t *testing.T, backend string) string { return startNginx(t, nginx, backend) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := startOriginCounter(t, origin)
			edge := tc.start(t, counter.addr)
			events := followEdgeEvents(t, tc.name, edge, "edge")
			st := pollThrough(t, edge+dir, counter, pollers, run)
			t.Logf("%s, %d pollers, %v: %s", tc.name, pollers, run, st)
			events.check(t, tc.name)
			if st.window < 20 {
				t.Fatalf("every poller saw only %d common parts in %v (want ≥ 20)", st.window, run)
			}
			if st.originParts == 0 {
				t.Fatalf("no part reached the origin: %s", st)
			}
			if tc.maxPerPart > 0 && (st.playlistPerPart() > tc.maxPerPart || st.partPerPart() > tc.maxPerPart) {
				t.Errorf("%s: %.2f blocking-playlist and %.2f part requests reached the origin per new part, want ≤ %.1f each",
					tc.name, st.playlistPerPart(), st.partPerPart(), tc.maxPerPart)
			}
			checkEdgeSettings(t, tc.name, edge, dir, counter)
		})
	}
}

// requireEdgeTools fails the test when varnishd (with a C compiler for its VCL) or nginx
// is missing: scripts/install-deps.sh installs the Debian packages varnish and nginx-light.
func requireEdgeTools(t *testing.T) (varnishd, nginx string) {
	t.Helper()
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		p := "/usr/sbin/" + name
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s not found on PATH or in /usr/sbin: apt-get install %s (scripts/install-deps.sh)", name,
				map[string]string{"varnishd": "varnish", "nginx": "nginx-light"}[name])
		}
		return p
	}
	varnishd, nginx = find("varnishd"), find("nginx")
	if _, err := exec.LookPath("cc"); err != nil {
		t.Fatalf("varnishd compiles its VCL with cc, which is not on PATH: apt-get install gcc")
	}
	return varnishd, nginx
}

// startHLSOrigin starts `glint serve` with LL-HLS (333 ms parts) and `glint demo` publishing
// a small picture (the ladder is then the source alone: little CPU) into room "edge"; it
// returns the server and the media playlist's directory, /hls/edge/{rendition}/, once the
// playlist has a preload hint.
func startHLSOrigin(t *testing.T) (*server, string) {
	t.Helper()
	srv := startServer(t, "--hls=true", "--hls-part", "333ms")
	testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/edge"),
		"--size", "320x180", "--bitrate", "400", "--loopback", "--log-level", "warn")
	variant := regexp.MustCompile(`(?m)^([\w-]+)/index\.m3u8$`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, body := httpGet(srv.url("/hls/edge/index.m3u8")); code == http.StatusOK {
			if m := variant.FindStringSubmatch(body); m != nil {
				dir := "/hls/edge/" + m[1] + "/"
				if code, body := httpGet(srv.url(dir + "index.m3u8")); code == http.StatusOK {
					if _, err := parseMediaList(body); err == nil {
						return srv, dir
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no LL-HLS media playlist with a preload hint under %s within 60 s", srv.url("/hls/edge/"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// httpGet GETs u with httpClient and returns the status (0 on an error) and the body (or the error).
func httpGet(u string) (int, string) { return clientGet(httpClient, u) }

// originCounter is the reverse proxy between the edge and Glint: it counts the requests
// for /hls/ that reach the origin, per path?query, and notes when the origin's first
// answer for each arrived.
type originCounter struct {
	addr   string // host:port the edge uses as its backend
	origin string // Glint's base URL
	mu     sync.Mutex
	urls   map[string]*originURL
}

type originURL struct {
	requests int
	ok       int       // of which answered 200
	first    time.Time // when the first answer's headers came back from Glint
}

func startOriginCounter(t *testing.T, origin *server) *originCounter {
	t.Helper()
	target, err := url.Parse(origin.base)
	if err != nil {
		t.Fatal(err)
	}
	c := &originCounter{origin: origin.base, urls: map[string]*originURL{}}
	tr := &http.Transport{MaxIdleConnsPerHost: 2000, IdleConnTimeout: 30 * time.Second}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0), // the edge and the pollers report failures
		ModifyResponse: func(resp *http.Response) error {
			c.answered(resp.Request.URL, resp.StatusCode)
			return nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("origin counter: %v", err)
	}
	hs := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			_ = hs.Close()
		}
		tr.CloseIdleConnections()
	})
	c.addr = ln.Addr().String()
	return c
}

func (c *originCounter) answered(u *url.URL, code int) {
	if !strings.HasPrefix(u.Path, "/hls/") {
		return
	}
	key := u.Path + "?" + u.RawQuery
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.urls[key]
	if o == nil {
		o = &originURL{first: now}
		c.urls[key] = o
	}
	o.requests++
	if code == http.StatusOK {
		o.ok++
	}
}

// originURL is the URL of path on the origin, bypassing the counter.
func (c *originCounter) originURL(path string) string { return c.origin + path }

// reset forgets what was counted (between bench runs through one edge).
func (c *originCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.urls = map[string]*originURL{}
}

func (c *originCounter) snapshot() map[string]originURL {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]originURL, len(c.urls))
	for k, v := range c.urls {
		m[k] = *v
	}
	return m
}

// startVarnish runs varnishd in the foreground with docs/edge/varnish.vcl (backend: the
// counter) on a free port; it returns the edge's base URL once it answers.
func startVarnish(t *testing.T, varnishd, backend string) string {
	t.Helper()
	dir := edgeDir(t, "varnish")
	host, port, _ := net.SplitHostPort(backend)
	vcl := renderEdgeConf(t, "varnish.vcl", filepath.Join(dir, "glint.vcl"), "@ORIGIN_HOST@", host, "@ORIGIN_PORT@", port)
	listen := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	// -j none: no privilege separation (works as root and as any user); -T: the management
	// CLI on a port of its own choosing, loopback only.
	testkit.StartProc(t, testkit.ProcOptions{Name: "varnishd"}, varnishd, "-F", "-j", "none", "-n", filepath.Join(dir, "work"),
		"-a", listen, "-T", "127.0.0.1:0", "-f", vcl, "-s", "malloc,64m")
	return waitEdge(t, "varnishd", "http://"+listen)
}

// startNginx runs nginx in the foreground (master and workers) with docs/edge/nginx.conf,
// changed by the old/new pairs of edit if any.
func startNginx(t *testing.T, nginx, backend string, edit ...string) string {
	t.Helper()
	dir := edgeDir(t, "nginx")
	for _, d := range []string{"logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	listen := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	conf := renderEdgeConf(t, "nginx.conf", filepath.Join(dir, "nginx.conf"), append([]string{"@LISTEN@", listen, "@ORIGIN@", backend}, edit...)...)
	testkit.StartProc(t, testkit.ProcOptions{Name: "nginx"}, nginx, "-p", dir+"/", "-c", conf, "-e", "stderr", "-g", "daemon off;")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Logf("nginx error.log:\n%s", testkit.Tail(string(b), 4000))
		}
	})
	return waitEdge(t, "nginx", "http://"+listen)
}

// edgeDir is a directory for an edge's files that its unprivileged workers (nginx runs
// them as nobody when started as root) can enter.
func edgeDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "glint-edge-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// renderEdgeConf writes docs/edge/name with its placeholders replaced (old, new pairs).
func renderEdgeConf(t *testing.T, name, out string, oldNew ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "edge", name))
	if err != nil {
		t.Fatalf("edge config: %v", err)
	}
	conf := strings.NewReplacer(oldNew...).Replace(string(b))
	for i := 0; i < len(oldNew); i += 2 {
		if !strings.Contains(string(b), oldNew[i]) {
			t.Fatalf("docs/edge/%s has no placeholder %s", name, oldNew[i])
		}
	}
	if err := os.WriteFile(out, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitEdge waits until base/healthz answers 200 through the edge (passed to Glint).
func waitEdge(t *testing.T, name, base string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // varnishd compiles its VCL first
	for {
		code, body := httpGet(base + "/healthz")
		if code == http.StatusOK {
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s: /healthz not 200 within 60 s (last: %d %.200s)", name, base, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pollThrough runs n pollers of the media playlist at dirURL for d and measures them
// against what the counter saw reach the origin. It fails the test when the pollers did
// not all get every part.
func pollThrough(t *testing.T, dirURL string, counter *originCounter, n int, d time.Duration) edgeStats {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 4*n + 10, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	pollers := make([]*hlsPoller, n)
	var wg sync.WaitGroup
	for i := range pollers {
		pollers[i] = newHLSPoller(dirURL, client)
		wg.Go(func() { pollers[i].run(ctx) })
	}
	wg.Wait()
	st := measure(pollers, counter.snapshot())
	window, err := checkEveryPart(pollers)
	st.window = window
	if err != nil {
		t.Fatalf("%d pollers through %s: %v (%s)", n, dirURL, err, st)
	}
	return st
}

func (s edgeStats) String() string {
	return fmt.Sprintf("%d new parts at the origin; per new part %.2f blocking-playlist and %.2f part requests reached the origin "+
		"(max %d for one URL); added delay p50/p95/max %v / %v / %v over %d deliveries, %v / %v / %v over the %d requests "+
		"sent before the origin answered; %d parts common to all pollers; %d poller requests, %d errors, %d hinted parts 404",
		s.originParts, s.playlistPerPart(), s.partPerPart(), s.maxPerURL,
		pct(s.delays, 50), pct(s.delays, 95), pct(s.delays, 100), len(s.delays),
		pct(s.waitDelays, 50), pct(s.waitDelays, 95), pct(s.waitDelays, 100), len(s.waitDelays),
		s.window, s.requests, s.errs, s.hintMiss)
}
