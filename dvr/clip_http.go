package dvr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// clipRequest is the body of POST /api/rooms/{room}/clips: exactly one of {start, end}
// (RFC 3339 wall-clock times), {start_offset, end_offset} (seconds from the recording's
// start) or {last} (the last N seconds stored, clamped to the recording's beginning).
type clipRequest struct {
	Recording   string     `json:"recording,omitempty"` // default: the room's live recording, else its latest
	Start       *time.Time `json:"start,omitempty"`
	End         *time.Time `json:"end,omitempty"`
	StartOffset *float64   `json:"start_offset,omitempty"`
	EndOffset   *float64   `json:"end_offset,omitempty"`
	Last        *float64   `json:"last,omitempty"`
	Accurate    bool       `json:"accurate,omitempty"` // the MP4 starts on the exact frame
}

// clipRange turns the request into a wall-clock range within [first, last] (the stored
// segments' bounds), or a one-line reason.
func (req clipRequest) clipRange(rec Recording, first, last time.Time, maxClip time.Duration) (from, to time.Time, err error) {
	wall, offsets, lastN := req.Start != nil || req.End != nil, req.StartOffset != nil || req.EndOffset != nil, req.Last != nil
	switch {
	case wall && !offsets && !lastN && req.Start != nil && req.End != nil:
		from, to = *req.Start, *req.End
	case offsets && !wall && !lastN && req.StartOffset != nil && req.EndOffset != nil:
		if *req.StartOffset < 0 || *req.EndOffset < 0 {
			return from, to, fmt.Errorf("offsets must not be negative")
		}
		from, to = rec.Start.Add(secondsDuration(*req.StartOffset)), rec.Start.Add(secondsDuration(*req.EndOffset))
	case lastN && !wall && !offsets:
		if *req.Last <= 0 {
			return from, to, fmt.Errorf("last must be a positive number of seconds")
		}
		to = last
		from = to.Add(-secondsDuration(*req.Last))
		if from.Before(first) {
			from = first
		}
	default:
		return from, to, fmt.Errorf("give {start, end}, {start_offset, end_offset} or {last}")
	}
	switch {
	case !to.After(from):
		return from, to, fmt.Errorf("end is not after start")
	case to.Sub(from) > maxClip:
		return from, to, fmt.Errorf("the clip lasts %s, longer than the maximum %s", to.Sub(from).Round(time.Millisecond), maxClip)
	case from.Before(first) || to.After(last):
		return from, to, fmt.Errorf("the range %s to %s is outside the recording, which holds %s to %s",
			from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano),
			first.UTC().Format(time.RFC3339Nano), last.UTC().Format(time.RFC3339Nano))
	}
	return from, to, nil
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// createClip answers POST /api/rooms/{room}/clips: 201 with the clip's playlist at once;
// its MP4 follows in the background.
func (h *Handler) createClip(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !roomPattern.MatchString(room) {
		fail(w, http.StatusBadRequest, "malformed room name")
		return
	}
	var req clipRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	rec, code, err := h.clipRecording(room, req.Recording)
	if err != nil {
		fail(w, code, err.Error())
		return
	}
	select {
	case h.queued <- struct{}{}: // startMP4 gives the place back when the job ends
	default:
		w.Header().Set("Retry-After", "10")
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("%d clips are being made; try again later", cap(h.queued)))
		return
	}
	c, code, err := h.newClip(r.Context(), rec, req)
	if err != nil {
		<-h.queued
		fail(w, code, err.Error())
		return
	}
	h.startMP4(c) // before the clip is visible: a DELETE then always finds the job
	h.clips.add(c)
	c.mu.Lock()
	c.expiry = time.AfterFunc(h.opts.ClipTTL, func() { h.dropClip(c.id) })
	c.mu.Unlock()
	h.log.Info("dvr: clip made", "clip", c.id, "room", room, "recording", rec.ID, "from", c.from, "to", c.to)
	writeJSON(w, http.StatusCreated, c.state())
}

// clipRecording returns the recording a clip of room is cut from.
func (h *Handler) clipRecording(room, id string) (Recording, int, error) {
	if id == "" {
		rec, ok := h.roomRecording(room)
		if !ok {
			return rec, http.StatusNotFound, fmt.Errorf("no recording of room %s", room)
		}
		return rec, 0, nil
	}
	if !ValidRecordingID(id) {
		return Recording{}, http.StatusBadRequest, fmt.Errorf("malformed recording id")
	}
	rec, ok := h.opts.Catalog.Recording(id)
	if !ok || rec.Room != room {
		return rec, http.StatusNotFound, fmt.Errorf("no recording %s of room %s", id, room)
	}
	return rec, 0, nil
}

// newClip checks the range against the recording's stored segments and takes a Hold.
func (h *Handler) newClip(ctx context.Context, rec Recording, req clipRequest) (*clipEntry, int, error) {
	all := map[string][]Segment{}
	var first, last time.Time
	for _, rendition := range rec.Renditions {
		segs, err := h.opts.Catalog.Segments(rec.ID, rendition)
		if err != nil || len(segs) == 0 {
			continue
		}
		all[rendition] = segs
		if first.IsZero() || segs[0].PDT.After(first) {
			first = segs[0].PDT // the latest start: every rendition covers the range
		}
		if end := segs[len(segs)-1].End(); last.IsZero() || end.Before(last) {
			last = end
		}
	}
	if len(all) == 0 {
		return nil, http.StatusNotFound, fmt.Errorf("recording %s holds no segment yet", rec.ID)
	}
	from, to, err := req.clipRange(rec, first, last, h.opts.MaxClip)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	top, err := h.topRendition(ctx, all)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	release, err := h.opts.Catalog.Hold(rec.ID)
	if err != nil {
		return nil, http.StatusNotFound, fmt.Errorf("recording %s: %w", rec.ID, err)
	}
	id := newClipID()
	c := &clipEntry{id: id, recording: rec, from: from, to: to, segs: clipSegments(all, top, from, to), top: top, created: time.Now(),
		mp4Path: filepath.Join(h.opts.ClipDir, id+".mp4"), releaseHold: release, status: clipPending, accurate: req.Accurate}
	return c, 0, nil
}

// topRendition returns the best video rendition among all (by picture size, then
// bitrate; read from their init segments), else the audio rendition.
func (h *Handler) topRendition(ctx context.Context, all map[string][]Segment) (string, error) {
	var variants []variant
	for rendition, segs := range all {
		v, ok, err := describeRendition(ctx, h.opts.Catalog, &h.inits, rendition, segs)
		if err != nil {
			return "", err
		}
		if ok {
			variants = append(variants, v)
		}
	}
	if top := topVideo(variants); top != "" {
		return top, nil
	}
	return audioRendition, nil
}

// clipSegments picks each rendition's segments for the range [from, to): the reference
// rendition's (the top video) segments that overlap it (so the clip starts at a keyframe
// at or before from), and for the others the segments whose middle falls within those
// (audio segments follow the video's boundaries to within a frame, so each rendition gets
// the same span).
func clipSegments(all map[string][]Segment, ref string, from, to time.Time) map[string][]Segment {
	refSegs := coveringRange(all[ref], from, to)
	out := map[string][]Segment{}
	if len(refSegs) == 0 {
		return out
	}
	out[ref] = refSegs
	spanFrom, spanTo := refSegs[0].PDT, refSegs[len(refSegs)-1].End()
	for rendition, segs := range all {
		if rendition == ref {
			continue
		}
		var picked []Segment
		for _, s := range coveringRange(segs, spanFrom, spanTo) {
			if mid := s.PDT.Add(s.Duration / 2); !mid.Before(spanFrom) && mid.Before(spanTo) {
				picked = append(picked, s)
			}
		}
		if len(picked) > 0 {
			out[rendition] = picked
		}
	}
	return out
}

// dropClip forgets a clip and releases what it holds.
func (h *Handler) dropClip(id string) bool {
	c := h.clips.remove(id)
	if c == nil {
		return false
	}
	c.release()
	h.log.Info("dvr: clip dropped", "clip", id)
	return true
}

// lookupClip returns the clip named by the request's {id}, or answers 400/404.
func (h *Handler) lookupClip(w http.ResponseWriter, id string) (*clipEntry, bool) {
	if !clipPattern.MatchString(id) {
		fail(w, http.StatusBadRequest, "malformed clip id")
		return nil, false
	}
	c, ok := h.clips.get(id)
	if !ok {
		fail(w, http.StatusNotFound, "unknown clip "+id)
	}
	return c, ok
}

// getClip answers GET /api/clips/{id}.
func (h *Handler) getClip(w http.ResponseWriter, r *http.Request) {
	if c, ok := h.lookupClip(w, r.PathValue("id")); ok {
		writeJSON(w, http.StatusOK, c.state())
	}
}

// deleteClip answers DELETE /api/clips/{id}.
func (h *Handler) deleteClip(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.lookupClip(w, r.PathValue("id")); !ok {
		return
	}
	if !h.dropClip(r.PathValue("id")) {
		fail(w, http.StatusNotFound, "unknown clip")
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusNoContent)
}

// serveClipPlaylist answers /dvr/clips/{id}/index.m3u8 and /{rendition}.m3u8 (VOD).
func (h *Handler) serveClipPlaylist(w http.ResponseWriter, r *http.Request) {
	c, ok := h.lookupClip(w, r.PathValue("id"))
	if !ok {
		return
	}
	file := r.PathValue("file")
	if file == "index.m3u8" {
		var variants []variant
		for _, rendition := range c.renditions() {
			v, ok, err := describeRendition(r.Context(), h.opts.Catalog, &h.inits, rendition, c.segs[rendition])
			if err != nil {
				h.failErr(w, r, err)
				return
			}
			if ok {
				variants = append(variants, v)
			}
		}
		writeBody(w, r, renderMultivariant(variants, "", ""), playlistMIME, cacheVOD)
		return
	}
	rendition, ok := strings.CutSuffix(file, ".m3u8")
	if !ok || !renditionName.MatchString(rendition) {
		fail(w, http.StatusBadRequest, "malformed playlist name")
		return
	}
	segs, ok := c.segs[rendition]
	if !ok {
		fail(w, http.StatusNotFound, "unknown rendition "+rendition)
		return
	}
	// EXT-X-START at the start asked: a player begins there, not at the keyframe before.
	// The recording's timed events in the clip's segments are listed as in its playlists
	// (none once the recording is deleted: they are kept with it).
	drs, _ := h.opts.Catalog.DateRanges(c.recording.ID)
	p := mediaPlaylist{typ: typeVOD, segs: segs, base: rendition + "/", start: c.from, dateRanges: drs}
	writeBody(w, r, p.render(), playlistMIME, cacheVOD)
}

// serveClipMedia answers /dvr/clips/{id}/{rendition}/{file}: a segment or init segment of
// the clip, read under the clip's Hold, so it stays readable after its recording is
// deleted (for as long as the clip lives).
func (h *Handler) serveClipMedia(w http.ResponseWriter, r *http.Request) {
	c, ok := h.lookupClip(w, r.PathValue("id"))
	if !ok {
		return
	}
	rendition, file := r.PathValue("rendition"), r.PathValue("file")
	if !renditionName.MatchString(rendition) || !mediaFilePattern.MatchString(file) {
		fail(w, http.StatusBadRequest, "malformed rendition or file name")
		return
	}
	key, ok := findMediaKey(c.segs[rendition], file)
	if !ok {
		fail(w, http.StatusNotFound, "no "+file+" in clip "+c.id+"/"+rendition)
		return
	}
	h.serveKey(w, r, key, file)
}

// serveClipMP4 answers /dvr/clips/{id}.mp4: the MP4 once done, 409 before (or if it failed).
func (h *Handler) serveClipMP4(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".mp4")
	if !ok { // a playlist of a room named "clips"
		r.SetPathValue("room", "clips")
		h.serveRoomPlaylist(w, r)
		return
	}
	c, ok := h.lookupClip(w, id)
	if !ok {
		return
	}
	if st := c.state(); st.Status != clipDone {
		reason := fmt.Sprintf("clip %s MP4 is %s (%.0f%%); see /api/clips/%s", id, st.Status, 100*st.Progress, id)
		if st.Status == clipFailed {
			reason = fmt.Sprintf("clip %s MP4 failed: %s", id, st.Error)
		}
		fail(w, http.StatusConflict, reason)
		return
	}
	f, err := os.Open(c.mp4Path)
	if err != nil {
		h.failErr(w, r, fmt.Errorf("dvr: clip %s: %w", id, err))
		return
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Content-Type", "video/mp4")
	hd.Set("Cache-Control", cacheVOD)
	hd.Set("Content-Disposition", `inline; filename="`+c.recording.Room+"-"+id+`.mp4"`)
	http.ServeContent(w, r, "", c.created, f)
}
