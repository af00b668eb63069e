package dvr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// HTTP read side of the DVR (docs/dvr.md is the user's reference).
//
// The live edge stays on /hls/ (LL-HLS: parts, blocking reloads, sub-3 s latency); what is
// here is plain HLS over the stored segments, so that any player (and any CDN) can use it
// and a playlist of hours costs one render, not one per part. The watch page plays /hls/
// at the live edge and switches to /dvr/ when the viewer seeks behind the in-memory window
// (about 20 s), back to /hls/ when they press "live".
//
//	GET    /dvr/{room}/index.m3u8                    multivariant of the room's live recording (else its latest)
//	GET    /dvr/{room}/{rendition}.m3u8              the DVR window (live: sliding, EXT-X-START near the live edge)
//	       ?start=over                               EVENT playlist from the recording's beginning (start-over)
//	       ?t=2026-12-05T21:00:00Z                   EXT-X-START at that wall-clock time (catch-up; 416 outside)
//	GET    /dvr/recordings/{id}/index.m3u8           multivariant of a recording (same ?t=)
//	GET    /dvr/recordings/{id}/{rendition}.m3u8     EVENT while live, VOD (ENDLIST) once ended
//	GET    /dvr/recordings/{id}/{rendition}/{file}   init-{n}.mp4 and seg-{msn}.m4s, immutable
//	GET    /dvr/clips/{id}/index.m3u8                a clip's multivariant; /{rendition}.m3u8 its VOD
//	GET    /dvr/clips/{id}/{rendition}/{file}        the clip's media (readable while the clip lives)
//	GET    /dvr/clips/{id}.mp4                       the clip's MP4, once done
//	GET    /api/recordings[?room=]                   recordings as JSON, newest first
//	GET    /api/recordings/{id}                      one recording
//	DELETE /api/recordings/{id}                      204 (the bytes go once no reader holds them)
//	POST   /api/rooms/{room}/clips                   make a clip: 201 {id, playlist, mp4, status}
//	GET    /api/clips/{id}                           the clip's MP4 progress
//	DELETE /api/clips/{id}                           204: forget a clip, release its recording
//
// Bad input is a 4xx with a one-line reason: unknown room, recording, rendition, clip or
// file → 404; malformed ids or file names (path traversal) → 400; a clip range outside the
// recording, reversed or too long → 400; a catch-up time outside the playlist → 416;
// deleting a live recording, or a clip MP4 not done → 409.
//
// Lifetimes: a clip Holds its recording until it is deleted, expires (ClipTTL) or the
// Handler closes; each media playlist request of an ended recording Holds it until
// ReaderGrace after the last one (readerHolds). A Delete or retention unlists a recording at once; its bytes
// go when the last Hold is released, so neither a clip nor a viewer is cut off.

// Defaults of HandlerOptions.
const (
	DefaultWindow  = 2 * time.Hour
	DefaultMaxClip = 10 * time.Minute
	DefaultClipTTL = 24 * time.Hour
	// DefaultMaxQueuedClips bounds the clip MP4 jobs waiting or running.
	DefaultMaxQueuedClips = 16
	// DefaultReaderGrace: a viewer who paused a VOD for up to this long can resume it
	// even if the recording was deleted meanwhile.
	DefaultReaderGrace = 30 * time.Minute
)

// HandlerOptions configures NewHandler. Catalog is required; zero fields take defaults.
type HandlerOptions struct {
	Catalog Catalog
	// Window is the DVR window of a room (default, and for a result <= 0: DefaultWindow).
	Window func(room string) time.Duration
	Log    *slog.Logger
	// ClipDir is where clip MP4s are written (default: glint-clips under os.TempDir()).
	ClipDir string
	// MaxClip is the longest clip (default DefaultMaxClip).
	MaxClip time.Duration
	// ClipTTL is how long a clip lives (its playlist, its MP4 and its Hold on the
	// recording) after it was made (default DefaultClipTTL).
	ClipTTL time.Duration
	// ClipWorkers is how many clip MP4s are made at once (default 1).
	ClipWorkers int
	// MaxQueuedClips is how many clip MP4s may wait or run at once (default
	// DefaultMaxQueuedClips); a clip request over it is answered 503 with Retry-After.
	MaxQueuedClips int
	// ReaderGrace is how long after its last playlist request a recording stays readable
	// by its players once deleted (default DefaultReaderGrace).
	ReaderGrace time.Duration
}

// Handler serves the DVR's playlists, media, recordings API and clips over HTTP.
type Handler struct {
	opts    HandlerOptions
	log     *slog.Logger
	clips   *clipSet
	readers *readerHolds
	ctx     context.Context // ends background clip work
	cancel  context.CancelFunc
	jobMu   sync.Mutex // orders wg.Add after cancel in Close
	wg      sync.WaitGroup
	work    chan struct{} // a slot per concurrent MP4 job
	queued  chan struct{} // a slot per MP4 job waiting or running (MaxQueuedClips)
	inits   sync.Map      // init segment key → variant (codec, size), read once
}

// NewHandler returns a Handler over opts.Catalog.
func NewHandler(opts HandlerOptions) *Handler {
	if opts.Window == nil {
		opts.Window = func(string) time.Duration { return DefaultWindow }
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ClipDir == "" {
		opts.ClipDir = filepath.Join(os.TempDir(), "glint-clips")
	}
	if opts.MaxClip <= 0 {
		opts.MaxClip = DefaultMaxClip
	}
	if opts.ClipTTL <= 0 {
		opts.ClipTTL = DefaultClipTTL
	}
	if opts.ClipWorkers <= 0 {
		opts.ClipWorkers = 1
	}
	if opts.MaxQueuedClips <= 0 {
		opts.MaxQueuedClips = DefaultMaxQueuedClips
	}
	if opts.ReaderGrace <= 0 {
		opts.ReaderGrace = DefaultReaderGrace
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{opts: opts, log: opts.Log, ctx: ctx, cancel: cancel,
		work: make(chan struct{}, opts.ClipWorkers), queued: make(chan struct{}, opts.MaxQueuedClips)}
	h.clips, h.readers = newClipSet(), newReaderHolds(opts.ReaderGrace)
	return h
}

// Register adds the Handler's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for pattern, handle := range map[string]http.HandlerFunc{
		"GET /dvr/{room}/{file}":                      h.serveRoomPlaylist,
		"GET /dvr/recordings/{id}/{file}":             h.serveRecordingPlaylist,
		"GET /dvr/recordings/{id}/{rendition}/{file}": h.serveMedia,
		"GET /dvr/clips/{id}/{file}":                  h.serveClipPlaylist,
		"GET /dvr/clips/{id}/{rendition}/{file}":      h.serveClipMedia,
		"GET /dvr/clips/{file}":                       h.serveClipMP4,
		"OPTIONS /dvr/":                               servePreflight,
		"GET /api/recordings":                         h.listRecordings,
		"GET /api/recordings/{id}":                    h.getRecording,
		"DELETE /api/recordings/{id}":                 h.deleteRecording,
		"POST /api/rooms/{room}/clips":                h.createClip,
		"GET /api/clips/{id}":                         h.getClip,
		"DELETE /api/clips/{id}":                      h.deleteClip,
	} {
		mux.HandleFunc(pattern, handle)
	}
}

// Close stops background clip work, waits for it (or ctx), and releases every Hold (clips,
// readers).
func (h *Handler) Close(ctx context.Context) error {
	h.jobMu.Lock()
	h.cancel()
	h.jobMu.Unlock()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, c := range h.clips.removeAll() {
		c.release()
	}
	h.readers.releaseAll()
	return nil
}

// Names in URLs, besides recording ids (ValidRecordingID) and renditions (renditionName):
// a room is as config validates it, a clip id is "c" and hex, a media file is named as the
// layout names it. None may hold "/" or "..", so no name reaches outside its directory.
var (
	roomPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	clipPattern      = regexp.MustCompile(`^c[0-9a-f]{16}$`)
	mediaFilePattern = regexp.MustCompile(`^(init-[0-9]{1,20}\.mp4|seg-[0-9]{1,20}\.m4s)$`)
)

// Cache-Control values: media never changes under its name; a live playlist changes with
// every segment; a VOD or a clip playlist never changes.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheLive      = "public, max-age=1"
	cacheVOD       = "public, max-age=3600"
	cacheNone      = "no-store"
	playlistMIME   = "application/vnd.apple.mpegurl"
)

// fail answers a one-line reason.
func fail(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Cache-Control", cacheNone)
	http.Error(w, reason, code)
}

// failErr answers 404 for ErrNotFound, 400 for ErrBadID, 409 for ErrLive and 500 (logged)
// otherwise.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		fail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrBadID):
		fail(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrLive):
		fail(w, http.StatusConflict, err.Error())
	case r.Context().Err() != nil:
		fail(w, http.StatusServiceUnavailable, "request ended")
	default:
		h.log.Error("dvr: request failed", "path", r.URL.Path, "err", err)
		fail(w, http.StatusInternalServerError, "internal error")
	}
}

func servePreflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Range")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// writeBody answers a 200 with body, its type and caching.
func writeBody(w http.ResponseWriter, r *http.Request, body []byte, mime, cache string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Content-Type", mime)
	h.Set("Cache-Control", cache)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
