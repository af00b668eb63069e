package hls

import (
	"context"
	"net/http"
	"time"
)

// joinWait bounds how long a new viewer's first media playlist is held for an independent
// part at its start position (Stream.OnJoin): the publisher's reaction to a keyframe request
// and the parts that must follow the keyframe fit in it with room to spare.
const joinWait = 1500 * time.Millisecond

// joinState is what a track knows about its start positions: where its newest independent
// part starts and where its published parts end (both media time), and whether the leading
// track is to start a segment at the next keyframe (Stream.CutAtNextKeyframe).
type joinState struct {
	cutNext   bool
	haveIndep bool
	indep     time.Duration // start of the newest published independent part
	edge      time.Duration // end of the newest published part
}

// OnJoin sets the hook called when a viewer joins: a media playlist request without
// _HLS_msn, which is how hls.js loads a rendition first, from a browser (the request has a
// Sec-Fetch-Mode header, which every current browser sends with fetch and XHR). Other
// clients (ffmpeg, VLC, a CDN's own fetches) start segments back from the edge and read
// several renditions one after the other: they gain nothing from a fresh keyframe and are
// answered at once without calling the hook (held, ffmpeg's HLS reader got the renditions
// at different moments and its decode times went backwards). When the hook reports
// that a keyframe is coming (it asked the publisher for one and called CutAtNextKeyframe),
// the answer is held, at most joinWait, until the viewer's start position (one part target
// before the edge: freshStartOffset) falls in the independent part that keyframe starts,
// and that answer's EXT-X-START says so: the player then loads from a fresh keyframe and
// decodes nothing before its start position. Without a hook, when it reports false, or when
// the hold runs out, the playlist is answered with the usual start (startOffset).
func (s *Stream) OnJoin(hook func(rendition string) bool) {
	s.mu.Lock()
	s.onJoin = hook
	s.mu.Unlock()
}

// CutAtNextKeyframe makes the leading video track start a new segment at its next keyframe,
// however long the segment in progress is (a short segment, which RFC 8216bis allows: only
// its duration must not exceed the target), so that the keyframe starts an independent
// part. Until then no track publishes a part early (Track.nearSegmentEnd), so the preload
// hint stays right. The other renditions follow the leader's boundary at their own next
// keyframe: the caller makes their encoders produce one there.
func (s *Stream) CutAtNextKeyframe() {
	s.mu.Lock()
	video := append([]*Track(nil), s.video...)
	s.mu.Unlock()
	for _, t := range video {
		t.mu.Lock()
		t.join.cutNext = true
		t.mu.Unlock()
	}
}

// holdForJoin holds a joining viewer's first playlist of track t (see OnJoin). It reports
// whether the wait ended because the start position is fresh: in t itself for a video
// rendition (a transcoded rung publishes its parts a little after the leading rendition: its
// start position must fall in its own fresh part, or hls.js starts at its previous keyframe),
// in the leading video rendition for the audio.
func (s *Stream) holdForJoin(ctx context.Context, r *http.Request, t *Track) bool {
	if r.Header.Get("Sec-Fetch-Mode") == "" {
		return false
	}
	s.mu.Lock()
	hook, lead, leader := s.onJoin, t, (*Track)(nil)
	if len(s.video) > 0 {
		leader = s.video[0]
	}
	if t.audio { // audio parts are all independent: the video's start decides
		lead = leader
	}
	s.mu.Unlock()
	if hook == nil || lead == nil {
		return false
	}
	offset, part := s.freshStartOffset(), s.partTarget
	// A keyframe on the leading rendition is one on every rendition (the rungs encode an IDR
	// on that picture), a little later on a transcoded rung: the leader tells whether one
	// is recent.
	if !leader.keyframeRecent(offset, part) && !hook(t.rendition) {
		return false
	}
	fresh, timedOut := lead.awaitCheck(ctx, min(joinWait, s.cfg.BlockTimeout), func() bool {
		return lead.ended || lead.freshStartLocked(offset, part)
	}, func() { s.stats.joinHolds.Add(1) })
	if timedOut {
		s.stats.joinHoldTimeouts.Add(1)
	}
	return fresh
}

// keyframeRecent reports whether the start position has not yet passed the newest
// independent part (published, or being built): it will be fresh once the parts after it
// are out, without a new keyframe. A viewer joining just after a keyframe (the keyframe
// pacer's, or an earlier viewer's) then needs none: asked anyway, the publisher's answer
// came 0.5–0.8 s later and cut the segment the viewer started in that short, and hls.js,
// started a part or two before that cut, stalled there for 2–4 s in 3 of 7 runs
// (docs/llhls-latency.md).
func (t *Track) keyframeRecent(offset, part time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.join.cutNext: // a join's keyframe is on its way
		return false
	case len(t.part.samples) > 0 && t.part.independent: // the part being built starts with one
		return true
	case len(t.part.samples) == 0 && t.pending != nil && t.pending.Keyframe: // and so will the next
		return true
	}
	return t.join.haveIndep && t.join.edge-offset < t.join.indep+part
}

// freshStartLocked reports whether a player starting offset before the edge starts in the
// newest independent part (less than a part after its keyframe). t.mu must be held.
func (t *Track) freshStartLocked(offset, part time.Duration) bool {
	start := t.join.edge - offset
	return t.join.haveIndep && start >= t.join.indep && start-t.join.indep < part
}

// notePublished records a part published at media time start lasting dur. t.mu must be held.
func (t *Track) notePublished(start, dur time.Duration, independent bool) {
	if independent {
		t.join.indep, t.join.haveIndep = start, true
	}
	t.join.edge = start + dur
}
