// Package dash serves Glint's LL-HLS fragments as low-latency MPEG-DASH: a dynamic MPD per
// room whose SegmentTemplate ($Number$ = the HLS media sequence number) points at the very
// init segments and segments package hls made, no second copy of the media. A segment
// requested while it is being written comes back chunked (CMAF-CTE), one CMAF chunk per
// LL-HLS part as it is published (hls.Track.ServeSegment).
//
// URL scheme, below /dash/:
//
//	{room}/manifest.mpd               dynamic MPD
//	{room}/{rendition}/init{N}.mp4    = /hls/{room}/{rendition}/init{N}.mp4
//	{room}/{rendition}/seg{N}.m4s     = /hls/{room}/{rendition}/seg{N}.m4s, chunked while written;
//	                                    older ones = the DVR's stored segment N (same bytes)
//	time                              permanent redirect (308) to /api/time?format=iso
//
// The MPD's UTCTiming is the node's one clock endpoint, GET /api/time?format=iso (package
// signaling); /dash/time, where it used to be, redirects there for players and MPDs that
// still name it. With an Archive (the DVR), the SegmentTimeline reaches back over the room's
// DVR window and timeShiftBufferDepth is that window.
//
// It holds no state of its own beyond each room's last rendered MPD (rendered again when
// what it lists changes): every answer is read from the hls.Server's Streams and the Archive.
package dash

import (
	"bytes"
	"encoding/xml"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/glint-video/glint/hls"
)

// Content types and Cache-Control values. The MPD changes with every segment: players
// reload it every minimumUpdatePeriod, so it is not kept. Init segments and segments are
// answered by hls.Track, with the same headers as under /hls/ (CMAF-CTE: ServeSegment).
const (
	mpdType  = "application/dash+xml"
	cacheMPD = "no-cache"
	// TimePath is the time endpoint the MPD's UTCTiming names: signaling's GET /api/time,
	// as a bare ISO 8601 instant.
	TimePath = "/api/time?format=iso"
	// LegacyTimePath is where the time endpoint used to be: a permanent redirect to TimePath.
	LegacyTimePath = "/dash/time"
)

// Server is the http.Handler for /dash/...: it reads the rooms of an hls.Server, and the
// DVR window behind them from an Archive.
type Server struct {
	hls     *hls.Server
	archive Archive
	log     *slog.Logger
	now     func() time.Time
	cache   mpdCache // each room's last MPD, rendered again when what it lists changes
}

// NewServer returns a Server for the rooms hlsServer serves; archive (nil: none) is the
// DVR the MPDs reach back into.
func NewServer(hlsServer *hls.Server, archive Archive, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{hls: hlsServer, archive: archive, log: log, now: time.Now}
}

// ServeHTTP answers GET, HEAD and CORS preflight requests for /dash/....
func (sv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !hls.AllowMethod(w, r) {
		return
	}
	if r.URL.Path == LegacyTimePath {
		http.Redirect(w, r, TimePath, http.StatusPermanentRedirect)
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, "/dash/")
	path := strings.Split(rest, "/")
	if len(path) < 2 || len(path) > 3 {
		fail(w, http.StatusNotFound, "not found")
		return
	}
	s := sv.hls.Stream(path[0])
	if s == nil {
		fail(w, http.StatusNotFound, "unknown room")
		return
	}
	if len(path) == 2 {
		if path[1] != "manifest.mpd" {
			fail(w, http.StatusNotFound, "not found")
			return
		}
		sv.serveMPD(w, r, s)
		return
	}
	t := s.Track(path[1])
	if t == nil {
		fail(w, http.StatusNotFound, "unknown rendition")
		return
	}
	sv.serveMedia(w, r, s.Name(), t, path[2])
}

// serveMedia answers an init segment or a segment request: from the LL-HLS stream, or the
// archive for a segment older than the stream keeps.
func (sv *Server) serveMedia(w http.ResponseWriter, r *http.Request, room string, t *hls.Track, file string) {
	if id, ok := hls.ParseName(file, "init", ".mp4"); ok {
		t.ServeInit(w, r, id)
		return
	}
	if msn, ok := hls.ParseName(file, "seg", ".m4s"); ok {
		if !sv.serveArchived(w, r, room, t, msn) {
			t.ServeSegment(w, r, msn)
		}
		return
	}
	fail(w, http.StatusNotFound, "not found")
}

// serveMPD answers the room's MPD, once its first segment is complete.
func (sv *Server) serveMPD(w http.ResponseWriter, r *http.Request, s *hls.Stream) {
	tm := s.Timing()
	if !s.AwaitReady(r.Context(), tm.BlockTimeout) {
		if r.Context().Err() == nil {
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "stream not ready yet")
		}
		return
	}
	room, now := s.Name(), sv.now()
	in := manifestInput{views: s.Views(), timing: tm, now: now, timeURL: timeURL(r)}
	if sv.archive != nil {
		if in.dvrWindow = sv.archive.Window(room); in.dvrWindow > 0 {
			in.behind = func(v hls.TrackView) []hls.SegmentView { return reachBack(sv.archive, room, v, in.dvrWindow) }
		}
	}
	key := mpdKey(in.views, tm, in.dvrWindow, in.timeURL)
	body, pubAt, ok := sv.cache.get(room, s, key, now)
	if !ok {
		if body = sv.renderMPD(w, in, room); body == nil {
			return
		}
		if pubAt = publishTimeAt(body); pubAt < 0 {
			sv.log.Error("dash: no publishTime in the MPD", "room", room)
			fail(w, http.StatusInternalServerError, "cannot render the MPD")
			return
		}
		sv.cache.put(room, s, key, body, pubAt, now)
	}
	h := w.Header()
	h.Set("Content-Type", mpdType)
	h.Set("Cache-Control", cacheMPD)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead { // the cached body, with this answer's publishTime
		_, _ = w.Write(body[:pubAt])
		_, _ = w.Write([]byte(xsDateTime(now)))
		_, _ = w.Write(body[pubAt+len(xsDateTime(now)):])
	}
}

// publishTimeAt returns the offset of the publishTime value in a rendered MPD (-1: none).
func publishTimeAt(body []byte) int {
	const attr = `publishTime="`
	i := bytes.Index(body, []byte(attr))
	if i < 0 || i+len(attr)+len(xsDateTime(time.Time{})) > len(body) {
		return -1
	}
	return i + len(attr)
}

// renderMPD renders an MPD, or answers the error and returns nil.
func (sv *Server) renderMPD(w http.ResponseWriter, in manifestInput, room string) []byte {
	m, err := buildMPD(in)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusServiceUnavailable, "stream not ready yet: "+err.Error())
		return nil
	}
	body, err := xml.MarshalIndent(m, "", " ")
	if err != nil {
		sv.log.Error("dash: rendering the MPD", "room", room, "err", err)
		fail(w, http.StatusInternalServerError, "cannot render the MPD")
		return nil
	}
	return append([]byte(xml.Header), body...)
}

// timeURL is the absolute URL of the time endpoint as the client reached this server (a
// player resolves UTCTiming against its page, not the MPD).
func timeURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + TimePath
}

// fail answers an error with a one-line reason; errors are not cached.
func fail(w http.ResponseWriter, code int, reason string) { hls.Fail(w, code, reason) }
