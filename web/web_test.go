package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestRoutes(t *testing.T) {
	h := Handler()
	long := strings.Repeat("a", 64)
	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string // prefix; "" to skip
		contains    string // in the body; "" to skip
	}{
		{"index", "GET", "/", 200, "text/html", `src="static/index.js"`},
		{"index head", "HEAD", "/", 200, "text/html", ""},
		{"watch", "GET", "/watch/demo", 200, "text/html", `src="../static/watch.js"`},
		{"watch with query", "GET", "/watch/demo?token=abc", 200, "text/html", "<video"},
		{"watch quality menu", "GET", "/watch/demo?quality=l", 200, "text/html", `<select id="quality">`},
		{"watch server stats", "GET", "/watch/demo", 200, "text/html", `id="v-estimate"`},
		{"watch mode switch", "GET", "/watch/demo?mode=hls", 200, "text/html", `<select id="mode"`},
		{"watch hls stats", "GET", "/watch/demo", 200, "text/html", `id="h-g2g"`},
		{"watch 64-char name", "GET", "/watch/" + long, 200, "text/html", ""},
		{"watch name with _ and -", "GET", "/watch/a_b-9", 200, "text/html", ""},
		{"publish", "GET", "/publish/demo", 200, "text/html", `src="../static/publish.js"`},
		{"publish simulcast off", "GET", "/publish/demo?simulcast=0&codec=h264", 200, "text/html", ""},
		{"whx.js", "GET", "/static/whx.js", 200, "text/javascript", "export async function exchange"},
		{"watch.js", "GET", "/static/watch.js", 200, "text/javascript", "window.glintWatch"},
		{"quality.js", "GET", "/static/quality.js", 200, "text/javascript", "urn:ietf:params:whep:ext:core:layer"},
		{"hlsplayer.js", "GET", "/static/hlsplayer.js", 200, "text/javascript", "lowLatencyMode: true"},
		{"rtcstats.js", "GET", "/static/rtcstats.js", 200, "text/javascript", "export function readStats"},
		{"publish.js", "GET", "/static/publish.js", 200, "text/javascript", "window.glintPublish"},
		{"index.js", "GET", "/static/index.js", 200, "text/javascript", "api/rooms"},
		{"css", "GET", "/static/glint.css", 200, "text/css", "--bg"},
		{"dashboard", "GET", "/dashboard", 200, "text/html", `src="static/dashboard.js"`},
		{"dashboard plots", "GET", "/dashboard", 200, "text/html", `id="plot-latency"`},
		{"dashboard.js", "GET", "/static/dashboard.js", 200, "text/javascript", "api/dashboard"},
		{"plot.js", "GET", "/static/plot.js", 200, "text/javascript", "export class Plot"},

		{"watch name with space", "GET", "/watch/a%20b", 404, "", ""},
		{"watch 65-char name", "GET", "/watch/" + long + "a", 404, "", ""},
		{"watch 100-char name", "GET", "/watch/" + strings.Repeat("x", 100), 404, "", ""},
		{"watch leading dash", "GET", "/watch/-x", 404, "", ""},
		{"watch html in name", "GET", "/watch/%3Cscript%3E", 404, "", ""},
		{"watch no room", "GET", "/watch/", 404, "", ""},
		{"watch subpath", "GET", "/watch/demo/x", 404, "", ""},
		{"publish bad name", "GET", "/publish/a.b", 404, "", ""},
		{"unknown static", "GET", "/static/nope.js", 404, "", ""},
		{"static dir", "GET", "/static/", 404, "", ""},
		{"unknown page", "GET", "/nope", 404, "", ""},
		{"index.html", "GET", "/index.html", 404, "", ""},
		{"post", "POST", "/watch/demo", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, h, tc.method, tc.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d (%q)", tc.method, tc.path, res.StatusCode, tc.status, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
			if tc.status == 200 && res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("missing X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestStaticPathCleaned(t *testing.T) {
	res := get(t, Handler(), "GET", "/static/../pages/index.html", nil)
	if loc := res.Header.Get("Location"); loc != "/pages/index.html" {
		t.Fatalf("Location %q, want the cleaned path", loc)
	}
	if res := get(t, Handler(), "GET", "/pages/index.html", nil); res.StatusCode != 404 {
		t.Fatalf("/pages/index.html: status %d, want 404", res.StatusCode)
	}
}

func TestEveryAssetServed(t *testing.T) {
	h := Handler()
	assets, err := loadAssets(files)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range assets {
		if !strings.HasPrefix(name, "static/") {
			continue
		}
		res := get(t, h, "GET", "/"+name, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != string(a.data) {
			t.Errorf("/%s: status %d, %d bytes, want 200 and %d bytes", name, res.StatusCode, len(body), len(a.data))
		}
	}
	for _, want := range []string{"static/whx.js", "static/watch.js", "static/quality.js", "static/hlsplayer.js", "static/rtcstats.js", "static/mode.js", "static/publish.js", "static/index.js", "static/glint.css"} {
		if assets[want] == nil {
			t.Errorf("%s is not embedded", want)
		}
	}
}

func TestETagRevalidation(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/", "/watch/demo", "/static/whx.js"} {
		res := get(t, h, "GET", p, nil)
		etag := res.Header.Get("ETag")
		if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: ETag %q, Cache-Control %q", p, etag, res.Header.Get("Cache-Control"))
		}
		res = get(t, h, "GET", p, http.Header{"If-None-Match": {etag}})
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: status %d, want 304", p, res.StatusCode)
		}
	}
}

func TestPagesHaveCSPAndNoThirdPartyCode(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/", "/watch/demo", "/publish/demo", "/dashboard"} {
		res := get(t, h, "GET", p, nil)
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") ||
			!strings.Contains(csp, "worker-src 'self' blob:") {
			t.Errorf("%s: Content-Security-Policy %q", p, res.Header.Get("Content-Security-Policy"))
		}
		body, _ := io.ReadAll(res.Body)
		for _, bad := range []string{"http://", "https://", "<script>", "style="} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s contains %q: pages load only their own assets, with no inline code", p, bad)
			}
		}
	}
}

func TestRoomName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"demo", true}, {"a", true}, {"9", true}, {"A_b-C", true}, {strings.Repeat("z", 64), true},
		{"", false}, {"_a", false}, {"-a", false}, {"a b", false}, {"a/b", false}, {"é", false},
		{strings.Repeat("z", 65), false},
	}
	for _, tc := range tests {
		if got := roomName.MatchString(tc.name); got != tc.ok {
			t.Errorf("roomName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestPagesHaveTheirElements: every element a page's scripts look up by id ($('x')) is in the page.
func TestPagesHaveTheirElements(t *testing.T) {
	assets, err := loadAssets(files)
	if err != nil {
		t.Fatal(err)
	}
	lookup := regexp.MustCompile(`\$\('([\w-]+)'\)`)
	for page, scripts := range map[string][]string{
		"pages/watch.html": {"static/watch.js", "static/quality.js", "static/hlsplayer.js", "static/rtcstats.js", "static/mode.js",
			"static/dvr.js", "static/dvrview.js"},
		"pages/publish.html": {"static/publish.js"},
		"pages/index.html":   {"static/index.js"},
	} {
		html := string(assets[page].data)
		for _, script := range scripts {
			for _, m := range lookup.FindAllStringSubmatch(string(assets[script].data), -1) {
				if !strings.Contains(html, `id="`+m[1]+`"`) {
					t.Errorf("%s looks up #%s, which %s lacks", script, m[1], page)
				}
			}
		}
	}
}

// TestModuleImportsResolve: every name a script imports from another is exported there.
func TestModuleImportsResolve(t *testing.T) {
	assets, err := loadAssets(files)
	if err != nil {
		t.Fatal(err)
	}
	imports := regexp.MustCompile(`(?s)import \{([^}]*)\} from '\./([\w.]+)'`)
	for name, a := range assets {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(string(a.data), -1) {
			from := assets["static/"+m[2]]
			if from == nil {
				t.Errorf("%s imports from %s, which is not embedded", name, m[2])
				continue
			}
			for _, id := range strings.Split(m[1], ",") {
				id = strings.TrimSpace(id)
				export := regexp.MustCompile(`export (async function|function|const|let|class) ` + regexp.QuoteMeta(id) + `\b`)
				if id != "" && !export.Match(from.data) {
					t.Errorf("%s imports %s from %s, which does not export it", name, id, m[2])
				}
			}
		}
	}
}

// TestHLSPlayerServed: `make web` put hls.js into static/vendor/ and the binary serves it. It
// fails (never skips) without it: `make test` runs `make web` first.
func TestHLSPlayerServed(t *testing.T) {
	if _, err := fs.Stat(files, "static/"+hlsPlayer); err != nil {
		t.Fatalf("static/%s is not embedded (%v): run `make web` (npm ci in web/ and a copy into web/static/vendor/)", hlsPlayer, err)
	}
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/static/" + hlsPlayer, "text/javascript", "lowLatencyMode"},
		{"/static/vendor/hls.js.LICENSE.txt", "text/plain", "Apache"},
	} {
		res := get(t, Handler(), "GET", tc.path, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("%s: status %d, Content-Type %q; want 200 %s", tc.path, res.StatusCode, res.Header.Get("Content-Type"), tc.contentType)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("%s: %d bytes without %q", tc.path, len(body), tc.contains)
		}
	}
}

// TestWithoutHLSPlayer: a binary built before `make web` (only the vendor README embedded)
// still serves every page; hls.js answers 404, which the watch page reports as "not built".
func TestWithoutHLSPlayer(t *testing.T) {
	bare := fstest.MapFS{}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (strings.HasPrefix(name, "static/vendor/") && name != "static/vendor/README.md") {
			return err
		}
		data, err := fs.ReadFile(files, name)
		bare[name] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h := handler(bare)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/watch/demo", 200}, {"/watch/demo?mode=hls", 200}, {"/static/hlsplayer.js", 200},
		{"/static/" + hlsPlayer, 404},
	} {
		if res := get(t, h, "GET", tc.path, nil); res.StatusCode != tc.status {
			t.Errorf("%s without the vendor files: status %d, want %d", tc.path, res.StatusCode, tc.status)
		}
	}
	if a, err := loadAssets(bare); err != nil || a["static/hlsplayer.js"] == nil ||
		!strings.Contains(string(a["static/hlsplayer.js"].data), "run make") {
		t.Errorf("hlsplayer.js must tell the user to run make when hls.js is missing (err %v)", err)
	}
}

// TestPagesAreRendered: each page is its layout filled in, with no template text left.
func TestPagesAreRendered(t *testing.T) {
	assets, err := loadAssets(files)
	if err != nil {
		t.Fatal(err)
	}
	if assets[layout] != nil {
		t.Errorf("%s is an asset: the layout is not served", layout)
	}
	for name := range pages {
		html := string(assets[name].data)
		if !strings.HasPrefix(html, "<!doctype html>\n") || !strings.HasSuffix(html, "</body>\n</html>\n") ||
			strings.Contains(html, "{{") || strings.Count(html, "<header>") != 1 || strings.Count(html, "<main") != 1 {
			t.Errorf("%s is not one whole page:\n%s", name, html)
		}
	}
}

// TestWatchPageDVRControls: the watch page carries the DVR controls (seek bar, pause, live,
// start over, clip) and the recordings list, also with ?recording= and ?t=; their scripts are
// embedded, served as JavaScript with ETags and loaded from watch.js (no inline code, which
// TestPagesHaveCSPAndNoThirdPartyCode checks on the page), and they reach the server only
// through URLs relative to the page's base (apiURL), never absolute paths or other origins.
func TestWatchPageDVRControls(t *testing.T) {
	h := Handler()
	res := get(t, h, "GET", "/watch/demo?mode=hls&recording=demo.20261205T210000Z&t=2026-12-05T21:00:00Z", nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("watch page with ?recording=: status %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{`<input id="dvr-seek" type="range"`, `<button id="dvr-pause"`, `<button id="dvr-live"`,
		`<button id="dvr-start-over"`, `<button id="dvr-clip"`, `<input id="clip-seconds" type="number"`, `value="30"`,
		`<ul id="recordings"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the watch page lacks %s", want)
		}
	}
	assets, err := loadAssets(files)
	if err != nil {
		t.Fatal(err)
	}
	for script, imports := range map[string]string{"static/watch.js": "./dvr.js", "static/dvr.js": "./dvrview.js"} {
		if !strings.Contains(string(assets[script].data), "from '"+imports+"'") {
			t.Errorf("%s does not import %s", script, imports)
		}
	}
	absolute := regexp.MustCompile("(fetch|apiURL)\\(['`]/|https?://")
	for _, name := range []string{"dvr.js", "dvrview.js"} {
		res := get(t, h, "GET", "/static/"+name, nil)
		data, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
			res.Header.Get("ETag") == "" || len(data) == 0 {
			t.Errorf("/static/%s: status %d, Content-Type %q, ETag %q", name, res.StatusCode,
				res.Header.Get("Content-Type"), res.Header.Get("ETag"))
		}
		if m := absolute.Find(data); m != nil {
			t.Errorf("%s uses %q: the DVR's URLs must be relative to the page's base", name, m)
		}
	}
}
