// Package web serves the browser pages of Glint: the room list (/), the player
// (/watch/{room}: WebRTC over WHEP, falling back to LL-HLS with hls.js), the camera
// publisher (/publish/{room}, WHIP with simulcast) and the operator's dashboard
// (/dashboard, over GET /api/dashboard; the node serves it to admins only), plus their
// scripts and styles under /static/. Everything is embedded in the binary, including
// static/vendor/hls.min.js when `make web` has put it there (npm, never committed; without it
// the watch page says the LL-HLS player is not built). The pages talk to the server only through its public HTTP API
// (docs/api.md), with URLs relative to the page.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"time"
)

//go:embed pages/*.html static/*.js static/*.css static/vendor
var files embed.FS

// hlsPlayer is the path of hls.js under /static/ (built by `make web`, see static/vendor/README.md).
const hlsPlayer = "vendor/hls.min.js"

// roomName is the room-name rule of docs/api.md; the WHIP/WHEP endpoints enforce it as well.
var roomName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// contentTypes are fixed here rather than taken from the system's MIME tables, which vary
// between machines: browsers refuse module scripts served with a non-JavaScript type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
}

// csp allows the pages' own scripts and styles only (no inline code, no other origins). API calls
// may go to other origins: the watch page moves to another node of a cluster when its own is lost
// or drains (failover.js), and WebRTC reaches any peer whatever the policy says. hls.js plays
// through Media Source Extensions (blob: media) and runs its demuxer in a worker made from a
// blob: URL.
const csp = "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; media-src 'self' blob: mediastream:; " +
	"worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'"

// pages are the HTML pages, each rendered once from pages/layout.html (the head, the header
// and the room pages' player, which every page shares) and the page's own file (its heading
// and contents).
var pages = map[string]page{
	"pages/index.html":     {Script: "index.js"},
	"pages/watch.html":     {Up: "../", Script: "watch.js", Room: true},
	"pages/publish.html":   {Up: "../", Script: "publish.js", Room: true},
	"pages/dashboard.html": {Script: "dashboard.js"},
}

// page is what the layout needs to know of a page.
type page struct {
	Up     string // from the page's URL back to the root
	Script string // its module under /static/
	Room   bool   // a room page: the room's name and a status badge in the header, and the player
}

// layout is the frame the pages fill; it is not served itself.
const layout = "pages/layout.html"

// asset is one embedded file, ready to serve.
type asset struct {
	name        string
	data        []byte
	etag        string
	contentType string
}

// Handler serves the pages and their assets. Paths it does not know get 404, and so do room
// pages whose name breaks the room-name rule.
func Handler() http.Handler {
	return handler(files)
}

// handler serves the pages and assets of fsys (the embedded files, or a test's).
func handler(fsys fs.FS) http.Handler {
	assets, err := loadAssets(fsys)
	if err != nil {
		panic(err) // the embedded files are part of the binary: only a broken build gets here
	}
	index, watch, publish := assets["pages/index.html"], assets["pages/watch.html"], assets["pages/publish.html"]
	dashboard := assets["pages/dashboard.html"]

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serve(w, r, index) })
	mux.HandleFunc("GET /watch/{room}", roomPage(watch))
	mux.HandleFunc("GET /publish/{room}", roomPage(publish))
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, r *http.Request) { serve(w, r, dashboard) })
	mux.HandleFunc("GET /static/{file...}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets["static/"+r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serve(w, r, a)
	})
	return mux
}

// roomPage serves a page for /{kind}/{room}; the page's script reads the room from the URL.
func roomPage(a *asset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !roomName.MatchString(r.PathValue("room")) {
			http.Error(w, "404 invalid room name: use 1-64 letters, digits, _ or -", http.StatusNotFound)
			return
		}
		serve(w, r, a)
	}
}

// serve writes an asset with its ETag; browsers revalidate (no-cache) and usually get a 304.
func serve(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // watch/publish URLs may carry ?token=
	if path.Ext(a.name) == ".html" {
		h.Set("Content-Security-Policy", csp)
	}
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
}

// loadAssets reads every file of fsys (rendering the pages into their layout) and computes
// its ETag and Content-Type.
func loadAssets(fsys fs.FS) (map[string]*asset, error) {
	assets := map[string]*asset{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == layout {
			return err
		}
		data, err := readAsset(fsys, name)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("web: no content type for %s", name)
		}
		sum := sha256.Sum256(data)
		assets[name] = &asset{
			name:        name,
			data:        data,
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
			contentType: ct,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: embedded files: %w", err)
	}
	return assets, nil
}

// readAsset reads one file of fsys; a page is rendered into the layout.
func readAsset(fsys fs.FS, name string) ([]byte, error) {
	page, ok := pages[name]
	if !ok {
		return fs.ReadFile(fsys, name)
	}
	t, err := template.ParseFS(fsys, layout, name)
	if err != nil {
		return nil, fmt.Errorf("page %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "page", page); err != nil {
		return nil, fmt.Errorf("page %s: %w", name, err)
	}
	return b.Bytes(), nil
}
