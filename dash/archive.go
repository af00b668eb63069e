package dash

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/glint-video/glint/hls"
)

// Archive is the DVR behind a room's live window (dvr.Timeshift): with one, the MPD's
// SegmentTimeline reaches back over the room's DVR window and timeShiftBufferDepth is that
// window; segments older than the LL-HLS stream keeps are read from it, under the same
// $Number$ URLs.
type Archive interface {
	// Window is how far back the room can be played (its DVR window); 0 when the archive
	// holds nothing of the room's live stream.
	Window(room string) time.Duration
	// Before returns the stored segments that precede live.Segments[0] in one unbroken
	// timeline (consecutive numbers, the same init segment, decode times that meet) and end
	// after decode time from, oldest first.
	Before(room string, live hls.TrackView, from uint64) []hls.SegmentView
	// ReadSegment returns the bytes of the stored segment the stream numbers msn, given the
	// rendition's live view (an error when it holds none, or numbers its segments otherwise).
	ReadSegment(ctx context.Context, room string, live hls.TrackView, msn uint64) ([]byte, error)
}

// Cache-Control of a stored segment: its bytes never change, as under /hls/ and /dvr/.
const cacheImmutable = "public, max-age=31536000, immutable"

// reachBack returns the archived segments to list before v's, over window back from v's
// newest complete segment's end (none without an archive or a window).
func reachBack(a Archive, room string, v hls.TrackView, window time.Duration) []hls.SegmentView {
	if a == nil || window <= 0 || len(v.Segments) == 0 {
		return nil
	}
	last := v.Segments[len(v.Segments)-1]
	end, span := last.Start+last.Ticks, toTicks(window, v.Timescale)
	if span >= end {
		span = end
	}
	return a.Before(room, v, end-span)
}

// serveArchived answers segment msn of a rendition from the archive, when the LL-HLS
// stream no longer keeps it; it reports false (nothing written) when that is not the case.
func (sv *Server) serveArchived(w http.ResponseWriter, r *http.Request, room string, t *hls.Track, msn uint64) bool {
	if sv.archive == nil {
		return false
	}
	v, ok := t.View()
	if !ok || len(v.Segments) == 0 || msn >= v.Segments[0].MSN {
		return false
	}
	data, err := sv.archive.ReadSegment(r.Context(), room, v, msn)
	if err != nil {
		if r.Context().Err() == nil && !errors.Is(err, context.Canceled) {
			sv.log.Debug("dash: archived segment not served", "room", room, "rendition", v.Rendition, "msn", msn, "err", err)
		}
		fail(w, http.StatusNotFound, "segment "+strconv.FormatUint(msn, 10)+" is not kept")
		return true
	}
	h := w.Header()
	h.Set("Content-Type", "video/iso.segment")
	h.Set("Cache-Control", cacheImmutable)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data)) // ranges, HEAD
	return true
}
