package signaling

import (
	"net/http"
	"time"
)

// ServerTime is GET /api/time: the server's clock, for a page (or a DASH/HLS player's
// UTCTiming) to learn its offset to the server with one round trip: offset ≈ NowMs −
// (sent + received) / 2. Capture times on forwarded media (abs-capture-time) are on this
// clock.
type ServerTime struct {
	NowMs float64   `json:"now_ms"` // Unix milliseconds, with microseconds
	Now   time.Time `json:"now"`
}

// handleTime answers the server's time: JSON by default, or the bare ISO 8601 instant for
// ?format=iso (DASH's urn:mpeg:dash:utc:http-iso:2014 / http-xsdate:2014 schemes).
func (s *Server) handleTime(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Query().Get("format") {
	case "", "json":
		writeJSON(w, http.StatusOK, ServerTime{NowMs: float64(now.UnixMicro()) / 1000, Now: now})
	case "iso":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(now.Format("2006-01-02T15:04:05.000000Z07:00")))
	default:
		s.writeError(w, r, fail(http.StatusBadRequest, "format %.20q: want json or iso", r.URL.Query().Get("format")))
	}
}
