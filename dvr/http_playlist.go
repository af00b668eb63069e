package dvr

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// playlistQuery is what a playlist request asks for beyond its URL path.
type playlistQuery struct {
	startOver bool
	at        time.Time // catch-up: zero when not asked
}

// parsePlaylistQuery reads ?start=over and ?t=RFC3339.
func parsePlaylistQuery(q url.Values) (playlistQuery, error) {
	var pq playlistQuery
	switch s := q.Get("start"); s {
	case "":
	case "over":
		pq.startOver = true
	default:
		return pq, fmt.Errorf("start=%q: only start=over is known", s)
	}
	if t := q.Get("t"); t != "" {
		at, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return pq, fmt.Errorf("t=%q is not an RFC 3339 time (2026-12-05T21:00:00Z)", t)
		}
		pq.at = at
	}
	return pq, nil
}

// encode is the query that a multivariant playlist passes on to its media playlists.
func (pq playlistQuery) encode() string {
	q := url.Values{}
	if pq.startOver {
		q.Set("start", "over")
	}
	if !pq.at.IsZero() {
		q.Set("t", pq.at.UTC().Format(time.RFC3339Nano))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// roomRecording returns the room's live recording, else its latest.
func (h *Handler) roomRecording(room string) (Recording, bool) {
	if rec, ok := h.opts.Catalog.Live(room); ok {
		return rec, true
	}
	if recs := h.opts.Catalog.Recordings(room); len(recs) > 0 {
		return recs[0], true
	}
	return Recording{}, false
}

// serveRoomPlaylist answers /dvr/{room}/index.m3u8 and /dvr/{room}/{rendition}.m3u8: the
// DVR window of the room's live recording (an EVENT with start=over), else its latest
// recording as a VOD.
func (h *Handler) serveRoomPlaylist(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !roomPattern.MatchString(room) {
		fail(w, http.StatusBadRequest, "malformed room name")
		return
	}
	rec, ok := h.roomRecording(room)
	if !ok {
		fail(w, http.StatusNotFound, "no recording of room "+room)
		return
	}
	h.servePlaylist(w, r, rec, cacheLive, func(p *mediaPlaylist, rendition string) {
		p.base = "../recordings/" + rec.ID + "/" + rendition + "/"
		switch {
		case p.startOver && rec.Live:
			p.typ = typeEvent
		case rec.Live:
			all, window := p.segs, h.opts.Window(room)
			if window <= 0 {
				window = DefaultWindow
			}
			from := windowFrom(all, window)
			p.typ, p.segs, p.discSeq = typeWindow, all[from:], discontinuitiesBefore(all, from)
		}
	})
}

// serveRecordingPlaylist answers /dvr/recordings/{id}/index.m3u8 and /{rendition}.m3u8:
// an EVENT playlist while the recording is live, a VOD once it ended.
func (h *Handler) serveRecordingPlaylist(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.lookupRecording(w, r.PathValue("id"))
	if !ok {
		return
	}
	cache := cacheVOD
	if rec.Live {
		cache = cacheLive
	}
	h.servePlaylist(w, r, rec, cache, func(p *mediaPlaylist, rendition string) {
		p.base = rendition + "/"
		if rec.Live {
			p.typ = typeEvent
		}
	})
}

// servePlaylist answers the {file} of a recording's playlists: index.m3u8 (multivariant)
// or {rendition}.m3u8, a VOD of all its segments that shape adapts (URIs, type, window).
// An ended recording's segments are held for the readers' grace.
func (h *Handler) servePlaylist(w http.ResponseWriter, r *http.Request, rec Recording, cache string, shape func(*mediaPlaylist, string)) {
	pq, err := parsePlaylistQuery(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	file := r.PathValue("file")
	if file == "index.m3u8" {
		h.serveMultivariant(w, r, rec, "", pq, cache)
		return
	}
	rendition, ok := strings.CutSuffix(file, ".m3u8")
	if !ok || !renditionName.MatchString(rendition) {
		fail(w, http.StatusBadRequest, "malformed playlist name")
		return
	}
	segs, err := h.opts.Catalog.Segments(rec.ID, rendition)
	if errors.Is(err, ErrNotFound) {
		fail(w, http.StatusNotFound, "unknown rendition "+rendition+" of recording "+rec.ID)
		return
	}
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	if !rec.Live { // a live recording cannot be deleted, and a Hold would stop its trims
		h.readers.touch(h.opts.Catalog, rec.ID, rendition, segs)
	}
	drs, err := h.opts.Catalog.DateRanges(rec.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		h.failErr(w, r, err)
		return
	}
	p := mediaPlaylist{typ: typeVOD, segs: segs, start: pq.at, startOver: pq.startOver, dateRanges: drs}
	shape(&p, rendition)
	h.writeMediaPlaylist(w, r, p, cache)
}

// writeMediaPlaylist answers a media playlist, or 416 when its catch-up time is outside it.
func (h *Handler) writeMediaPlaylist(w http.ResponseWriter, r *http.Request, p mediaPlaylist, cache string) {
	if !p.start.IsZero() {
		if _, ok := offsetAt(p.segs, p.start); !ok {
			reason := "t is outside the playlist: it holds no segment yet"
			if len(p.segs) > 0 {
				reason = fmt.Sprintf("t=%s is outside the playlist, which holds %s to %s",
					p.start.UTC().Format(time.RFC3339), p.segs[0].PDT.UTC().Format(time.RFC3339),
					p.segs[len(p.segs)-1].End().UTC().Format(time.RFC3339))
			}
			fail(w, http.StatusRequestedRangeNotSatisfiable, reason)
			return
		}
	}
	if p.typ == typeVOD {
		cache = cacheVOD
	}
	writeBody(w, r, p.render(), playlistMIME, cache)
}

// serveMultivariant answers the multivariant playlist of a recording; its media playlists
// are prefix + rendition + ".m3u8", with the same query.
func (h *Handler) serveMultivariant(w http.ResponseWriter, r *http.Request, rec Recording, prefix string, pq playlistQuery, cache string) {
	var variants []variant
	for _, rendition := range rec.Renditions {
		segs, err := h.opts.Catalog.Segments(rec.ID, rendition)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile, or nothing stored yet
		}
		if err != nil {
			h.failErr(w, r, err)
			return
		}
		v, ok, err := describeRendition(r.Context(), h.opts.Catalog, &h.inits, rendition, segs)
		if err != nil {
			h.failErr(w, r, err)
			return
		}
		if ok {
			variants = append(variants, v)
		}
	}
	if len(variants) == 0 {
		fail(w, http.StatusNotFound, "recording "+rec.ID+" holds no segment yet")
		return
	}
	writeBody(w, r, renderMultivariant(variants, prefix, pq.encode()), playlistMIME, cache)
}

// serveMedia answers /dvr/recordings/{id}/{rendition}/{file}: an init segment or a media
// segment listed in the rendition's index, read through the Catalog.
func (h *Handler) serveMedia(w http.ResponseWriter, r *http.Request) {
	id, rendition, file := r.PathValue("id"), r.PathValue("rendition"), r.PathValue("file")
	switch {
	case !ValidRecordingID(id):
		fail(w, http.StatusBadRequest, "malformed recording id")
		return
	case !renditionName.MatchString(rendition):
		fail(w, http.StatusBadRequest, "malformed rendition")
		return
	case !mediaFilePattern.MatchString(file):
		fail(w, http.StatusBadRequest, "malformed file name")
		return
	}
	segs, err := h.opts.Catalog.Segments(id, rendition)
	if errors.Is(err, ErrNotFound) { // deleted: still readable by its players for a while
		var held bool
		if segs, held = h.readers.segments(id, rendition); held {
			err = nil
		}
	}
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	key, ok := findMediaKey(segs, file)
	if !ok {
		fail(w, http.StatusNotFound, "no "+file+" in "+id+"/"+rendition)
		return
	}
	h.serveKey(w, r, key, file)
}

// serveKey answers the stored bytes of a media file, immutable.
func (h *Handler) serveKey(w http.ResponseWriter, r *http.Request, key, file string) {
	data, err := h.opts.Catalog.Read(r.Context(), key)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	writeBody(w, r, data, contentType(file), cacheImmutable)
}

// findMediaKey returns the store key of file (seg-{msn}.m4s or init-{n}.mp4) among segs.
func findMediaKey(segs []Segment, file string) (string, bool) {
	if num, ok := strings.CutPrefix(file, "seg-"); ok {
		msn, err := strconv.ParseUint(strings.TrimSuffix(num, ".m4s"), 10, 64)
		if err != nil {
			return "", false
		}
		i := sort.Search(len(segs), func(i int) bool { return segs[i].MSN >= msn })
		if i < len(segs) && segs[i].MSN == msn && path.Base(segs[i].Key) == file {
			return segs[i].Key, true
		}
		return "", false
	}
	for i := len(segs) - 1; i >= 0; i-- { // the latest init is the one asked most
		if segs[i].InitKey != "" && path.Base(segs[i].InitKey) == file {
			return segs[i].InitKey, true
		}
	}
	return "", false
}
