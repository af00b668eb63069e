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
