package hls

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the http.Handler for /hls/{room}/... (see the package comment for the URL
// scheme). It serves the Streams added to it; Remove only unregisters a Stream (Close it
// separately). Safe for concurrent use.
type Server struct {
	log     *slog.Logger
	mu      sync.RWMutex
	rooms   map[string]*Stream
	retired retiredLatency
	admit   WaitAdmission // nil: no limit on waiting requests
	// onRequest, when set, is told of every request for a served room (before it is
	// answered): on-demand renditions wake on it (hlsbridge).
	onRequest func(room string)
}

// Cache-Control values. Parts, segments and init segments never change under their name.
// Playlists change with every part, but must stay cacheable (no private/no-cache) for a
// CDN or nginx to collapse concurrent identical requests: a plain playlist for a second;
// a blocking reload's answer always contains what it asked for, so it may be kept longer.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cachePlaylist  = "public, max-age=1"
	cacheError     = "no-store"
	cacheOwnStart  = "private, no-store" // a joining viewer's own held first playlist
	playlistType   = "application/vnd.apple.mpegurl"
)

// NewServer returns a Server with no rooms.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{log: log, rooms: map[string]*Stream{}}
}

// Add serves s as room, replacing any Stream served under that name before.
func (sv *Server) Add(room string, s *Stream) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if old := sv.rooms[room]; old != nil && old != s {
		sv.retired.add(old)
	}
	sv.rooms[room] = s
}

// OnRequest sets fn to be called, on the request's goroutine, for every request for a room
// being served, before it is answered; fn must return quickly. Call it before serving.
func (sv *Server) OnRequest(fn func(room string)) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.onRequest = fn
}

// Remove stops serving room; its URLs answer 404 from then on.
func (sv *Server) Remove(room string) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if s := sv.rooms[room]; s != nil {
		sv.retired.add(s)
	}
	delete(sv.rooms, room)
}

// Has reports whether room is served here.
func (sv *Server) Has(room string) bool { return sv.stream(room) != nil }

func (sv *Server) stream(room string) *Stream {
	sv.mu.RLock()
	s, onRequest := sv.rooms[room], sv.onRequest
	sv.mu.RUnlock()
	if s != nil && onRequest != nil {
		onRequest(room)
	}
	return s
}

// ServeHTTP answers GET, HEAD and CORS preflight requests for /hls/{room}/....
func (sv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/hls/")
	path := strings.Split(rest, "/")
	if !ok || len(path) < 2 || len(path) > 3 {
		fail(w, http.StatusNotFound, "not found")
		return
	}
	s := sv.stream(path[0])
	if s == nil {
		sv.log.Debug("hls: request for an unknown room", "room", path[0], "path", r.URL.Path)
		fail(w, http.StatusNotFound, "unknown room")
		return
	}
	if len(path) == 2 {
		if path[1] != "index.m3u8" {
			fail(w, http.StatusNotFound, "not found")
			return
		}
		s.stats.requests[reqMultivariant].Add(1)
		sv.serveMultivariant(w, r, s)
		return
	}
	t := s.track(path[1])
	if t == nil {
		s.log.Debug("hls: request for an unknown rendition", "rendition", path[1])
		fail(w, http.StatusNotFound, "unknown rendition")
		return
	}
	file := path[2]
	if file == "index.m3u8" {
		sv.serveMedia(w, r, t)
		return
	}
	if id, ok := parseName(file, "init", ".mp4"); ok {
		s.stats.requests[reqInit].Add(1)
		t.mu.Lock()
		data := t.initLocked(id)
		t.mu.Unlock()
		t.serveData(w, r, data, true)
		return
	}
	if msn, ok := parseName(file, "seg", ".m4s"); ok {
		s.stats.requests[reqSegment].Add(1)
		var data []byte
		t.mu.Lock()
		if seg := t.segmentLocked(msn); seg != nil {
			data = seg.data
		}
		t.mu.Unlock()
		t.serveData(w, r, data, false)
		return
	}
	if name, ok := strings.CutSuffix(strings.TrimPrefix(file, "part"), ".m4s"); ok && strings.HasPrefix(file, "part") {
		msnText, idxText, _ := strings.Cut(name, ".")
		msn, err1 := strconv.ParseUint(msnText, 10, 64)
		idx, err2 := strconv.ParseUint(idxText, 10, 16)
		if err1 == nil && err2 == nil {
			s.stats.requests[reqPart].Add(1)
			sv.servePart(w, r, t, msn, int(idx))
			return
		}
	}
	fail(w, http.StatusNotFound, "not found")
}

func (sv *Server) serveMultivariant(w http.ResponseWriter, r *http.Request, s *Stream) {
	if !s.awaitReady(r.Context(), s.cfg.BlockTimeout) {
		if r.Context().Err() == nil {
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "stream not ready yet")
		}
		return
	}
	body, gz := s.multivariantPlaylist(), acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		body = Gzip(body)
	}
	writePlaylist(w, r, body, gz, cachePlaylist)
}

// serveMedia answers a media playlist request, blocking per _HLS_msn/_HLS_part.
func (sv *Server) serveMedia(w http.ResponseWriter, r *http.Request, t *Track) {
	msn, part, skip, err := parseDirectives(r.URL.Query())
	if err != nil {
		t.log.Debug("hls: bad playlist request", "query", r.URL.RawQuery, "err", err)
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	timeout, ctx := t.s.cfg.BlockTimeout, r.Context()
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if msn < 0 {
		t.s.stats.requests[reqPlaylist].Add(1)
		if !t.await(ctx, timeout, func() bool { return t.ended || t.readyLocked() }) {
			if ctx.Err() == nil {
				w.Header().Set("Retry-After", "1")
				fail(w, http.StatusServiceUnavailable, "no segment yet")
			}
			return
		}
		fresh := t.s.holdForJoin(ctx, r, t)
		switch {
		case fresh: // this viewer's own start: not for a cache to give others
			writePlaylist(w, r, t.freshStartPlaylist(skip), false, cacheOwnStart)
		case ctx.Err() == nil:
			writePlaylist(w, r, t.playlist(skip, gz), gz, cachePlaylist)
		}
		return
	}
	t.s.stats.requests[reqBlockingPlaylist].Add(1)
	release, admitted := sv.admitWait(w, r)
	if !admitted {
		return
	}
	defer release()
	var tooFar bool
	ok := t.await(ctx, timeout, func() bool {
		ready, far := t.reloadStateLocked(uint64(msn), part)
		tooFar = far
		return ready || far
	})
	switch {
	case tooFar:
		t.log.Debug("hls: blocking reload too far ahead", "msn", msn, "part", part)
		fail(w, http.StatusBadRequest, "_HLS_msn/_HLS_part too far ahead of the playlist")
	case ok:
		writePlaylist(w, r, t.playlist(skip, gz), gz, fmt.Sprintf("public, max-age=%d", 3*t.s.target))
	case ctx.Err() == nil:
		t.log.Debug("hls: blocking reload timed out", "msn", msn, "part", part)
		fail(w, http.StatusServiceUnavailable, "requested segment or part not available in time")
	}
}

// servePart answers a part request; the part the preload hint names is waited for.
func (sv *Server) servePart(w http.ResponseWriter, r *http.Request, t *Track, msn uint64, idx int) {
	release, admitted := sv.admitWait(w, r)
	if !admitted {
		return
	}
	defer release()
	var data []byte
	ok := t.await(r.Context(), t.s.cfg.BlockTimeout, func() bool {
		d, hinted := t.partStateLocked(msn, idx)
		data = d
		return d != nil || !hinted
	})
	switch {
	case data != nil:
		t.serveData(w, r, data, false)
	case ok:
		fail(w, http.StatusNotFound, "no such part")
	case r.Context().Err() == nil:
		fail(w, http.StatusServiceUnavailable, "hinted part not available in time")
	}
}

// allowMethod sets CORS headers and reports whether r is a GET or HEAD to answer; it
// answers a preflight (OPTIONS) or a 405 itself.
func allowMethod(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Range")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
	}
	return false
}

// parseDirectives reads the delivery directives of a media playlist request; msn is -1
// when absent, part -1 when absent.
func parseDirectives(q url.Values) (msn int64, part int, skip bool, err error) {
	msn, part = -1, -1
	if v := q.Get("_HLS_msn"); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return 0, 0, false, fmt.Errorf("invalid _HLS_msn %q", v)
		}
		msn = int64(n)
	}
	if v := q.Get("_HLS_part"); v != "" {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return 0, 0, false, fmt.Errorf("invalid _HLS_part %q", v)
		}
		if msn < 0 {
			return 0, 0, false, fmt.Errorf("_HLS_part without _HLS_msn")
		}
		part = int(n)
	}
	switch v := q.Get("_HLS_skip"); v {
	case "":
	case "YES", "v2":
		skip = true
	default:
		return 0, 0, false, fmt.Errorf("invalid _HLS_skip %q", v)
	}
	return msn, part, skip, nil
}

// parseName reads N from prefix + N + suffix.
func parseName(file, prefix, suffix string) (uint64, bool) {
	s, ok := strings.CutPrefix(file, prefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// serveData answers with an init segment, segment or part, or 404 when data is nil.
func (t *Track) serveData(w http.ResponseWriter, r *http.Request, data []byte, init bool) {
	if data == nil {
		fail(w, http.StatusNotFound, "not found")
		return
	}
	h := w.Header()
	switch {
	case !init:
		h.Set("Content-Type", "video/iso.segment")
	case t.audio:
		h.Set("Content-Type", "audio/mp4")
	default:
		h.Set("Content-Type", "video/mp4")
	}
	h.Set("Cache-Control", cacheImmutable)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// Gzip compresses data at the fastest level (playlists: also auth.Protect's signed ones).
func Gzip(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(data)
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// writePlaylist answers with a playlist; gzipped says body is gzip-compressed.
func writePlaylist(w http.ResponseWriter, r *http.Request, body []byte, gzipped bool, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", playlistType)
	h.Set("Cache-Control", cacheControl)
	h.Add("Vary", "Accept-Encoding")
	if gzipped {
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// AcceptsGzip reports whether an Accept-Encoding header allows gzip (a proxy of these
// playlists, relay.Shield, decides by it too).
func AcceptsGzip(header string) bool { return acceptsGzip(header) }

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, item := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(item), ";")
		if name = strings.TrimSpace(name); name != "gzip" && name != "*" {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// fail answers an error with a one-line reason; errors are not cached.
func fail(w http.ResponseWriter, code int, reason string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", cacheError)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, reason)
}
