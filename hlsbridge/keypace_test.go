package hlsbridge

import (
	"testing"
	"time"
)

// TestKeyPacer: a source without keyframes of its own is asked when a segment reaches its
// nominal 2 s, so that each segment starts at a keyframe and lasts 2 s plus the publisher's
// reaction; a keyframe before the nominal end does not start a segment; a source whose GOP
// fits the segment is never asked; an unanswered request is repeated every 500 ms.
func TestKeyPacer(t *testing.T) {
	const frame = time.Second / 30
	const reaction = 3 // frames between the request and the keyframe
	k := keyPacer{segment: 2 * time.Second}
	var asked []time.Duration
	answerAt := -1
	for i := range 200 { // 6.6 s at 30 fps
		pts := time.Duration(i) * frame
		key := i == 0 || i == answerAt || i == 20 // frame 20: a keyframe nobody asked for, mid-segment
		if k.frame(pts, key).ask {
			asked = append(asked, pts)
			answerAt = i + reaction
		}
	}
	if len(asked) != 3 {
		t.Fatalf("asked at %v, want 3 requests in 6.6 s of 2 s segments", asked)
	}
	for i, at := range asked {
		want := time.Duration(i)*(2*time.Second+reaction*frame) + 2*time.Second
		if at < want-3*frame || at > want+frame {
			t.Errorf("request %d at %v, want at the nominal end of its segment ≈ %v", i, at, want)
		}
	}
	g := keyPacer{segment: 2 * time.Second}
	for i := range 200 {
		if g.frame(time.Duration(i)*frame, i%30 == 0).ask { // a 1 s GOP of its own
			t.Fatalf("a source with a 1 s GOP was asked at frame %d", i)
		}
	}
	u := keyPacer{segment: 2 * time.Second}
	var repeats []time.Duration
	for i := range 100 { // never answered
		if u.frame(time.Duration(i)*frame, i == 0).ask {
			repeats = append(repeats, time.Duration(i)*frame)
		}
	}
	if len(repeats) < 2 || repeats[1]-repeats[0] < keyReask || repeats[1]-repeats[0] > keyReask+frame {
		t.Errorf("unanswered requests at %v, want one every %v", repeats, keyReask)
	}
}

// TestKeyPacerJoin: a join asks for a keyframe at once, the keyframe that answers it starts
// a segment mid-GOP (every rendition is told to cut there) and restarts the segment clock,
// so the next request comes a nominal segment after it; a second join while the first one's
// keyframe is awaited asks nothing; a join whose keyframe never comes is reported late once.
func TestKeyPacerJoin(t *testing.T) {
	const frame = time.Second / 30
	k := keyPacer{segment: 2 * time.Second}
	if k.join(0) {
		t.Fatal("a join before the first keyframe asked for one")
	}
	var asks, cuts []int
	var answered int
	for i := range 140 { // 4.7 s
		pts := time.Duration(i) * frame
		if (i == 20 || i == 21) && k.join(pts) {
			asks = append(asks, i)
		}
		step := k.frame(pts, i == 0 || i == 24 || (len(asks) > 1 && i == asks[len(asks)-1]+3))
		if step.ask {
			asks = append(asks, i)
		}
		if step.cut {
			cuts = append(cuts, i)
		}
		if step.answered {
			answered++
		}
	}
	if len(asks) != 2 || asks[0] != 20 || asks[1] != 24+60 {
		t.Errorf("asked at frames %v, want 20 (the join) and 84 (a segment after the join's keyframe at 24)", asks)
	}
	if len(cuts) != 3 || cuts[0] != 0 || cuts[1] != 24 || cuts[2] != 87 {
		t.Errorf("segments started at frames %v, want 0, 24 (the join's keyframe) and 87", cuts)
	}
	if answered != 1 {
		t.Errorf("%d keyframes reported as a join's answer, want 1", answered)
	}
	d := keyPacer{segment: 2 * time.Second}
	d.frame(0, true)
	d.join(frame)
	var late []int
	for i := 2; i < 60; i++ {
		if d.frame(time.Duration(i)*frame, false).late {
			late = append(late, i)
		}
	}
	if len(late) != 1 || time.Duration(late[0]-1)*frame < joinLate {
		t.Errorf("late reported at frames %v, want once, %v after the join", late, joinLate)
	}
}

// TestJoinRate: joins ask for at most one keyframe per joinEvery per room; a viewer joining
// within joinShare of an asked keyframe waits for that one, later ones in the interval do
// not wait; nothing is promised before the source rendition is passed through, or once
// the publisher failed to answer.
func TestJoinRate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := joinRequests{now: func() time.Time { return now }}
	if j.viewerJoined("source") {
		t.Fatal("a join promised a keyframe before the ladder started")
	}
	j.able.Store(true)
	steps := []struct {
		after   time.Duration
		promise bool
		asks    uint64
	}{{0, true, 1}, {200 * time.Millisecond, true, 1}, {300 * time.Millisecond, false, 1},
		{400 * time.Millisecond, false, 1}, {500 * time.Millisecond, true, 2}, {100 * time.Millisecond, true, 2}}
	for i, s := range steps {
		now = now.Add(s.after)
		before := j.accepted.Load()
		if got := j.viewerJoined("source"); got != s.promise || j.accepted.Load() != s.asks {
			t.Errorf("join %d: promised %v after %d asks, want %v after %d", i, got, j.accepted.Load(), s.promise, s.asks)
		}
		if told := j.wanted.Swap(false); told != (j.accepted.Load() > before) {
			t.Errorf("join %d: video pipeline told %v, want it told of each ask only", i, told)
		}
	}
	j.deaf.Store(now.Add(joinDeafFor).UnixNano())
	now = now.Add(2 * time.Second)
	if j.viewerJoined("source") {
		t.Error("a join promised a keyframe from a publisher that did not answer")
	}
	now = now.Add(joinDeafFor)
	if !j.viewerJoined("source") {
		t.Errorf("joins still promise nothing %v after the publisher failed to answer", joinDeafFor)
	}
}
