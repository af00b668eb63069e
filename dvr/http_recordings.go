package dvr

import (
	"encoding/json"
	"net/http"
)

// recordingJSON is a recording as the API shows it: its duration in seconds, and the URL
// of its multivariant playlist.
type recordingJSON struct {
	Recording
	Duration float64 `json:"duration"` // shadows Recording.Duration (nanoseconds)
	Playlist string  `json:"playlist"`
}

func recordingView(rec Recording) recordingJSON {
	return recordingJSON{Recording: rec, Duration: rec.Duration.Seconds(),
		Playlist: "/dvr/recordings/" + rec.ID + "/index.m3u8"}
}

// writeJSON answers v as JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheNone)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do then
}

// listRecordings answers GET /api/recordings[?room=].
func (h *Handler) listRecordings(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if room != "" && !roomPattern.MatchString(room) {
		fail(w, http.StatusBadRequest, "malformed room name")
		return
	}
	list := []recordingJSON{}
	for _, rec := range h.opts.Catalog.Recordings(room) {
		list = append(list, recordingView(rec))
	}
	writeJSON(w, http.StatusOK, list)
}

// lookupRecording returns the recording named id, or answers 400 (malformed) or 404.
func (h *Handler) lookupRecording(w http.ResponseWriter, id string) (Recording, bool) {
	if !ValidRecordingID(id) {
		fail(w, http.StatusBadRequest, "malformed recording id")
		return Recording{}, false
	}
	rec, ok := h.opts.Catalog.Recording(id)
	if !ok {
		fail(w, http.StatusNotFound, "unknown recording "+id)
	}
	return rec, ok
}

// getRecording answers GET /api/recordings/{id}.
func (h *Handler) getRecording(w http.ResponseWriter, r *http.Request) {
	if rec, ok := h.lookupRecording(w, r.PathValue("id")); ok {
		writeJSON(w, http.StatusOK, recordingView(rec))
	}
}

// deleteRecording answers DELETE /api/recordings/{id}: 204 (409 while live); the bytes go
// once no reader (a clip, a player within its grace) holds them.
func (h *Handler) deleteRecording(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.lookupRecording(w, r.PathValue("id"))
	if !ok {
		return
	}
	id := rec.ID
	if err := h.opts.Catalog.Delete(r.Context(), id); err != nil {
		h.failErr(w, r, err)
		return
	}
	h.log.Info("dvr: recording deleted", "recording", id)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusNoContent)
}
