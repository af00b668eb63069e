package hls

import (
	"net/http"
	"time"
)

// CMAF chunked transfer (CMAF-CTE): a segment requested before it is complete is answered
// as it is produced, one HTTP/1.1 chunk (or HTTP/2 DATA frame) per part, each part a
// complete moof+mdat CMAF chunk, flushed the moment it is published.

// CacheIncomplete is the Cache-Control of a segment response that starts before the
// segment is complete: no shared cache may keep a response that was still growing when it
// began (a CDN cannot tell it from one cut short). Complete segments are immutable.
const CacheIncomplete = "no-store"

// ServeSegment answers a request for segment msn: its bytes when complete; while it is
// being written (or is the next one to start), its parts as they are published, with
// chunked transfer, until it completes. A segment that neither exists nor is about to is
// 404; one that does not start within the Stream's block timeout is 503. A response cut
// short (the client left, the segment was dropped, or its parts stopped coming) is
// aborted, never ended cleanly, so no cache mistakes it for the whole segment.
func (t *Track) ServeSegment(w http.ResponseWriter, r *http.Request, msn uint64) {
	var data []byte
	var coming bool
	ok := t.await(r.Context(), t.s.cfg.BlockTimeout, func() bool {
		data, coming = t.segmentStateLocked(msn)
		return data != nil || !coming || t.cur != nil && t.cur.msn == msn && len(t.cur.parts) > 0
	})
	switch {
	case data != nil:
		t.serveData(w, r, data, false)
	case ok && coming:
		t.streamSegment(w, r, msn)
	case ok:
		fail(w, http.StatusNotFound, "no such segment")
	case r.Context().Err() == nil:
		fail(w, http.StatusServiceUnavailable, "segment not started in time")
	}
}

// segmentStateLocked finds segment msn: its data when complete, else whether it is being
// written or is the next to start (worth waiting for).
func (t *Track) segmentStateLocked(msn uint64) (data []byte, coming bool) {
	if seg := t.segmentLocked(msn); seg != nil {
		return seg.data, false
	}
	if t.ended || !t.started {
		return nil, false
	}
	edge, _ := t.edgeLocked()
	return nil, msn == edge || t.cur != nil && msn == edge+1
}

// streamSegment writes segment msn's parts as they come, starting with those already out.
func (t *Track) streamSegment(w http.ResponseWriter, r *http.Request, msn uint64) {
	h := w.Header()
	h.Set("Content-Type", "video/iso.segment")
	h.Set("Cache-Control", CacheIncomplete)
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	sent, started := 0, time.Now()
	for {
		var chunks [][]byte
		var complete, gone bool
		t.await(r.Context(), t.s.cfg.BlockTimeout, func() bool {
			chunks, complete, gone = t.newPartsLocked(msn, sent)
			return len(chunks) > 0 || complete || gone
		})
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				return
			}
		}
		if len(chunks) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
			sent += len(chunks)
			continue
		}
		if complete || r.Context().Err() != nil { // done, or the client left
			return
		}
		t.log.Warn("hls: chunked segment cut short", "msn", msn, "parts", sent, "after", time.Since(started), "gone", gone)
		panic(http.ErrAbortHandler) // no terminating chunk: the response is known incomplete
	}
}

// newPartsLocked returns the parts of segment msn from index from on, and whether the
// segment is complete with all of them, or gone (dropped, or never started).
func (t *Track) newPartsLocked(msn uint64, from int) (chunks [][]byte, complete, gone bool) {
	seg := t.segmentLocked(msn)
	if seg == nil && t.cur != nil && t.cur.msn == msn {
		seg = t.cur
	}
	if seg == nil {
		edge, _ := t.edgeLocked()
		return nil, false, t.ended || msn < edge || msn > edge+1
	}
	for _, p := range seg.parts[min(from, len(seg.parts)):] {
		chunks = append(chunks, p.data)
	}
	return chunks, seg.complete && from+len(chunks) == len(seg.parts), false
}
