package hls

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// joinCfg is testCfg with the default 200 ms parts.
func joinCfg() Config {
	cfg := testCfg
	cfg.PartDuration = 200 * time.Millisecond
	return cfg
}

// startPart returns the part a player starting at EXT-X-START (its TIME-OFFSET before the
// playlist's edge) starts in, with its segment.
func startPart(t *testing.T, pl *mediaPL) (plSegment, plPart) {
	t.Helper()
	var edge float64
	for _, seg := range pl.segments {
		if seg.complete {
			edge += seg.dur
			continue
		}
		for _, p := range seg.parts {
			edge += p.dur
		}
	}
	tags := pl.tags["EXT-X-START"]
	if len(tags) != 1 {
		t.Fatalf("%d EXT-X-START tags:\n%s", len(tags), pl.text)
	}
	start, pos := edge+atof(t, attrs(tags[0])["TIME-OFFSET"]), 0.0
	for _, seg := range pl.segments {
		if seg.complete && pos+seg.dur <= start {
			pos += seg.dur
			continue
		}
		for _, p := range seg.parts {
			if pos+p.dur > start {
				return seg, p
			}
			pos += p.dur
		}
	}
	t.Fatalf("no part at the start position %.3f s of %.3f s:\n%s", start, edge, pl.text)
	return plSegment{}, plPart{}
}

// checkStartsAtNewestSegment fails unless pl's start position is in the first, independent
// part of its newest segment, still in progress; it returns that segment.
func checkStartsAtNewestSegment(t *testing.T, name string, pl *mediaPL) plSegment {
	t.Helper()
	seg, part := startPart(t, pl)
	if !part.independent || seg.parts[0].uri != part.uri || seg.complete {
		t.Errorf("%s: start position in %s of segment %d, want the first (independent) part of the newest segment:\n%s",
			name, part.uri, seg.msn, pl.text)
	}
	return seg
}

// checkFreshStart fails unless rec is a held first playlist with its own fresh start: one
// part target from the edge, and not to be cached for others.
func checkFreshStart(t *testing.T, name string, rec *httptest.ResponseRecorder) {
	t.Helper()
	pl := parseMedia(t, rec.Body.String())
	if off := atof(t, attrs(pl.tags["EXT-X-START"][0])["TIME-OFFSET"]); off != -pl.partTarget {
		t.Errorf("%s: EXT-X-START TIME-OFFSET %v, want one part target (-%v) for a fresh start", name, off, pl.partTarget)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != cacheOwnStart {
		t.Errorf("%s: Cache-Control %q on a viewer's own start, want %q", name, cc, cacheOwnStart)
	}
}

// browserGet is a request as a browser's player (hls.js) makes it: with Sec-Fetch-Mode.
func browserGet(h http.Handler, url string) *httptest.ResponseRecorder {
	return get(h, url, "Sec-Fetch-Mode", "cors")
}

// closedTimer is a timer channel that has already fired: a select with it does not wait.
var closedTimer = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

func asyncBrowserGet(h http.Handler, url string) <-chan *httptest.ResponseRecorder {
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- browserGet(h, url) }()
	return done
}

// TestJoinHoldsFirstPlaylistForFreshKeyframe: a browser's first media playlist request (no
// _HLS_msn) calls the stream's join hook once (another client's does not); the hook's keyframe (the feeder marks the fourth video
// frame after the hook as one in both video renditions, as a publisher answering a keyframe
// request and the ladder's forced IDR would) starts a new segment in the middle of a GOP,
// the part before it is the one the preload hint named, and the playlists of both video and the
// audio renditions are answered only once the start position (EXT-X-START) falls in that
// segment's first, independent part (each video rendition's own; the audio's on the leader).
// The rung's segment starts where the leader's does.
func TestJoinHoldsFirstPlaylistForFreshKeyframe(t *testing.T) {
	s, sv, f := newTestStream(t, joinCfg(), "hi", "lo", AudioRendition)
	f.feedUntil(3 * time.Second) // a second into the second GOP: its keyframe is no fresh start
	var joins atomic.Int32
	s.OnJoin(func(string) bool { joins.Add(1); return true })
	plain := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8")) // not from a browser: answered at once, no join
	if off := atof(t, attrs(plain.tags["EXT-X-START"][0])["TIME-OFFSET"]); off != -2*plain.partTarget {
		t.Errorf("EXT-X-START TIME-OFFSET %v for a client that is not held, want two part targets", off)
	}
	video := asyncBrowserGet(sv, "/hls/room1/hi/index.m3u8")
	rung := asyncBrowserGet(sv, "/hls/room1/lo/index.m3u8")
	audio := asyncBrowserGet(sv, "/hls/room1/a/index.m3u8")
	for joins.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	hint := parseMedia(t, string(s.track("hi").playlist(false, false))).hint
	s.CutAtNextKeyframe()
	keyAt := [2]int{f.next[0] + 3, f.next[1] + 3} // the publisher's reaction: three frames
	freshIn := func(rendition string) bool {
		tr := s.track(rendition)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.freshStartLocked(s.freshStartOffset(), s.partTarget)
	}
	// Each answer is checked against its own condition, as seen after the write before it:
	// the leader's start position for its playlist and the audio's, the rung's own for the
	// rung's. The rung can become fresh a frame after the leader, and the leader's and the
	// audio's answers may arrive in that frame.
	var hiFresh, loFresh bool
	var videoRec, rungRec, audioRec *httptest.ResponseRecorder
	receive := func(wait <-chan time.Time) bool {
		select {
		case videoRec = <-video:
			if !hiFresh {
				t.Fatal("the video playlist was answered before its start position was fresh")
			}
		case rungRec = <-rung:
			if !loFresh {
				t.Fatal("the rung's playlist was answered before its start position was fresh")
			}
		case audioRec = <-audio:
			if !hiFresh {
				t.Fatal("the audio playlist was answered before the leader's start position was fresh")
			}
		case <-wait:
			return false
		}
		return true
	}
	for n := 0; !hiFresh || !loFresh; n++ {
		if n > 60*10 { // 10 s of media
			t.Fatal("no fresh start position after the join's keyframe")
		}
		i, smp := f.peek()
		if i < 2 && f.next[i] == keyAt[i] {
			smp.Keyframe = true
		}
		f.next[i]++
		if err := f.tracks[i].WriteSample(smp); err != nil {
			t.Fatal(err)
		}
		hiFresh = hiFresh || freshIn("hi")
		loFresh = loFresh || freshIn("lo")
		for receive(closedTimer) {
		}
	}
	deadline := time.After(5 * time.Second) // the media waits, as a live source would not run ahead
	for videoRec == nil || rungRec == nil || audioRec == nil {
		if !receive(deadline) {
			t.Fatalf("first playlists not answered 5 s after the start position was fresh (video %v, rung %v, audio %v)",
				videoRec != nil, rungRec != nil, audioRec != nil)
		}
	}
	if joins.Load() != 3 {
		t.Errorf("join hook called %d times for three first playlists, want 3", joins.Load())
	}
	for name, rec := range map[string]*httptest.ResponseRecorder{"hi": videoRec, "lo": rungRec, "a": audioRec} {
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
		}
		checkFreshStart(t, name, rec)
	}
	pl := parseMedia(t, videoRec.Body.String())
	seg := checkStartsAtNewestSegment(t, "hi", pl)
	var prev plSegment
	for _, ps := range pl.segments {
		if ps.msn+1 == seg.msn {
			prev = ps
		}
	}
	if prev.dur > 1.5 {
		t.Errorf("the segment before the joining keyframe lasts %.3f s, want it cut short at that keyframe", prev.dur)
	}
	if last := prev.parts[len(prev.parts)-1].uri; last != hint {
		t.Errorf("the preload hint named %s before the cut, but the segment's last part is %s", hint, last)
	}
	lo := parseMedia(t, rungRec.Body.String())
	if lseg, lpart := startPart(t, lo); !lpart.independent || lseg.parts[0].uri != lpart.uri || lseg.msn != seg.msn {
		t.Errorf("rung: start position in %s of segment %d, want the first part of segment %d:\n%s",
			lpart.uri, lseg.msn, seg.msn, lo.text)
	}
	for _, ls := range lo.segments {
		if ls.msn == prev.msn && (ls.dur < prev.dur-0.034 || ls.dur > prev.dur+0.034) {
			t.Errorf("rung segment %d lasts %.3f s, the leader's %.3f s", ls.msn, ls.dur, prev.dur)
		}
	}
	st := s.stats.snapshot("room1")
	if st.JoinHolds != 3 || st.JoinHoldTimeouts != 0 {
		t.Errorf("join holds %d, timeouts %d; want 3 and 0", st.JoinHolds, st.JoinHoldTimeouts)
	}
}

// TestJoinHoldBounded: a first playlist whose promised keyframe never comes is answered
// when joinWait runs out; a hook that promises nothing, and blocking reloads, are answered
// at once and never call it.
func TestJoinHoldBounded(t *testing.T) {
	s, sv, f := newTestStream(t, joinCfg(), "hi", AudioRendition)
	f.feedUntil(3 * time.Second) // the newest keyframe (2 s) is a second behind the edge
	var promise atomic.Bool
	var joins atomic.Int32
	s.OnJoin(func(string) bool { joins.Add(1); return promise.Load() })
	browserGet(sv, "/hls/room1/hi/index.m3u8")
	if st := s.stats.snapshot("room1"); st.JoinHolds != 0 {
		t.Errorf("held %d playlists without a promised keyframe", st.JoinHolds)
	}
	promise.Store(true)
	start := time.Now()
	rec := browserGet(sv, "/hls/room1/hi/index.m3u8")
	if rec.Code != http.StatusOK {
		t.Fatalf("first playlist: %d %s", rec.Code, rec.Body)
	}
	pl := parseMedia(t, rec.Body.String())
	if off := atof(t, attrs(pl.tags["EXT-X-START"][0])["TIME-OFFSET"]); off != -2*pl.partTarget {
		t.Errorf("EXT-X-START TIME-OFFSET %v after a hold that ran out, want the usual two part targets", off)
	}
	if waited := time.Since(start); waited < joinWait-50*time.Millisecond {
		t.Errorf("answered after %v without a fresh keyframe, want the hold's bound %v", waited, joinWait)
	}
	if st := s.stats.snapshot("room1"); st.JoinHolds != 1 || st.JoinHoldTimeouts != 1 {
		t.Errorf("join holds %d, timeouts %d; want 1 and 1", st.JoinHolds, st.JoinHoldTimeouts)
	}
	msn, idx := pl.hintPos(t)
	for !published(s.track("hi"), msn, idx) {
		if err := f.writeNext(); err != nil {
			t.Fatal(err)
		}
	}
	if rec := browserGet(sv, "/hls/room1/hi/index.m3u8?_HLS_msn="+strconv.FormatUint(msn, 10)+"&_HLS_part="+strconv.Itoa(idx)); rec.Code != http.StatusOK {
		t.Fatalf("blocking reload: %d %s", rec.Code, rec.Body)
	}
	if n := joins.Load(); n != 2 {
		t.Errorf("join hook called %d times, want 2 (blocking reloads are no joins)", n)
	}
}

// TestJoinAfterRecentKeyframeAsksNone: a viewer joining just after a keyframe (here the one
// at 2 s, as the last sample written, or 0.1 s before the edge) needs no new one: the hook is not called for the leading
// rendition nor for a rung (the leader decides), no segment is cut, and each first playlist
// is held only until its start position is in that keyframe's part.
func TestJoinAfterRecentKeyframeAsksNone(t *testing.T) {
	for _, until := range []time.Duration{2001 * time.Millisecond, 2100 * time.Millisecond} {
		t.Run(until.String(), func(t *testing.T) { testJoinAfterKeyframe(t, until) })
	}
}

func testJoinAfterKeyframe(t *testing.T, until time.Duration) {
	s, sv, f := newTestStream(t, joinCfg(), "hi", "lo", AudioRendition)
	f.feedUntil(until)
	var joins atomic.Int32
	s.OnJoin(func(string) bool { joins.Add(1); return true })
	first := map[string]<-chan *httptest.ResponseRecorder{
		"hi": asyncBrowserGet(sv, "/hls/room1/hi/index.m3u8"),
		"lo": asyncBrowserGet(sv, "/hls/room1/lo/index.m3u8"),
	}
	answers := map[string]*httptest.ResponseRecorder{}
	for n := 0; len(answers) < len(first); n++ {
		if n > 60*3 { // 3 s of media
			t.Fatalf("first playlists not answered after 3 s of media (answered: %d)", len(answers))
		}
		for r, ch := range first {
			select {
			case answers[r] = <-ch:
				delete(first, r)
			default:
			}
		}
		time.Sleep(2 * time.Millisecond)
		if err := f.writeNext(); err != nil {
			t.Fatal(err)
		}
	}
	if n := joins.Load(); n != 0 {
		t.Errorf("join hook called %d times just after a keyframe, want 0", n)
	}
	for r, rec := range answers {
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: first playlist: %d %s", r, rec.Code, rec.Body)
		}
		checkFreshStart(t, r, rec)
		pl := parseMedia(t, rec.Body.String())
		checkStartsAtNewestSegment(t, r, pl)
		for _, ps := range pl.segments {
			if ps.complete && ps.dur < 1.5 {
				t.Errorf("%s: segment %d lasts %.3f s: cut short without a join's keyframe", r, ps.msn, ps.dur)
			}
		}
	}
}
