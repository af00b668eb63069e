package hlsbridge

import (
	"sync"
	"sync/atomic"
	"time"
)

// Joins: a new LL-HLS viewer's first playlist (hls.Stream.OnJoin) asks the publisher for a
// keyframe, and the segmenter starts a segment there, so that the viewer starts at a fresh
// independent part near the edge instead of loading and decoding from a keyframe up to a
// segment back (docs/llhls-latency.md). Each one costs the publisher a keyframe, so they are
// limited per room.
const (
	// joinEvery: at most one keyframe a second is asked for joining viewers per room.
	joinEvery = time.Second
	// joinShare: a viewer joining this soon after an asked keyframe waits for that one.
	joinShare = 300 * time.Millisecond
	// joinLate: a join's keyframe not there this long after the request (the SFU's PLI
	// throttle, 500 ms by default, plus the publisher's reaction) means the publisher does not
	// answer (RTMP/SRT, or a broken encoder): joins then do not ask for joinDeafFor.
	joinLate    = time.Second
	joinDeafFor = 30 * time.Second
)

// joinRequests passes joins from HTTP requests to the video pipeline and keeps their rate.
type joinRequests struct {
	wanted   atomic.Bool  // a join waits for the video pipeline (keyPacer.join)
	able     atomic.Bool  // the leading rendition is the source passed through: it can be asked
	deaf     atomic.Int64 // until when (unix nanos) joins do not ask: a join's keyframe came late
	mu       sync.Mutex
	askedAt  time.Time
	now      func() time.Time
	accepted atomic.Uint64 // joins that asked for a keyframe
}

// viewerJoined is the stream's OnJoin hook: it reports whether a fresh keyframe is coming
// for the viewer, asking for one unless one was asked less than joinEvery ago.
func (j *joinRequests) viewerJoined(string) bool {
	t := j.clock()
	if !j.able.Load() || t.UnixNano() < j.deaf.Load() {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if since := t.Sub(j.askedAt); !j.askedAt.IsZero() && since < joinEvery {
		return since < joinShare
	}
	j.askedAt = t
	j.wanted.Store(true)
	j.accepted.Add(1)
	return true
}

func (j *joinRequests) clock() time.Time {
	if j.now != nil {
		return j.now()
	}
	return time.Now()
}

// pace runs the keyframe pacer for one frame on the video pipeline: it applies a waiting
// join, asks the publisher when the pacer says so, and makes the re-encoded rungs start a
// segment where the passed-through source does.
func (v *videoPipe) pace(pts time.Duration, keyframe bool) {
	j := &v.b.joins
	if j.wanted.Swap(false) && v.keys.join(pts) {
		v.b.stream.CutAtNextKeyframe()
		v.b.requestKeyframe()
		v.log.Debug("hlsbridge: keyframe asked for a joining viewer", "pts", pts)
	}
	step := v.keys.frame(pts, keyframe)
	if step.ask {
		v.b.requestKeyframe()
	}
	if step.late {
		j.deaf.Store(j.clock().Add(joinDeafFor).UnixNano())
		v.log.Info("hlsbridge: the publisher did not answer a joining viewer's keyframe request in time; joins do not ask for a while",
			"for", joinDeafFor)
	}
	if step.answered {
		j.deaf.Store(0)
	}
	if step.cut {
		v.forceRungKeyframes()
	}
}

// forceRungKeyframes makes every re-encoded rung's next picture an IDR, so that each rung
// can start its segment at the source keyframe the leading rendition starts one at.
func (v *videoPipe) forceRungKeyframes() {
	if v.ladder == nil {
		return
	}
	for i, r := range v.rungs {
		if !r.Passthrough {
			v.ladder.RequestKeyframe(i)
		}
	}
}
