package transcoder

import (
	"github.com/asticode/go-astiav"

	"testing"
	"time"
)

// A parked ladder forwards its passthrough rung, encodes nothing, and on Resume catches up
// from the start of the segment before the current one: the re-encoded rung comes back with
// an IDR on the same picture as a passthrough boundary.
func TestLadderParkResume(t *testing.T) {
	in := synthVideo(t, "H264", 320, 240, 30, 210, 0, 30) // 7 s, a keyframe every second
	c := &collector{}
	rungs := []Rung{{Name: "source", Passthrough: true}, {Name: "180p", Width: 240, Height: 180, BitrateKbps: 250}}
	l, err := NewLadder(LadderConfig{Rungs: rungs, SegmentDuration: time.Second, Output: c.add, Log: testLog(t), MaxLoad: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	push := func(from, to int) {
		for _, e := range in[from:to] {
			if err := l.Push(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	push(0, 45) // encoding
	encodedBefore := len(c.out[1])
	if encodedBefore == 0 {
		t.Fatal("no re-encoded output before parking")
	}
	if err := l.Park(); err != nil || !l.Parked() {
		t.Fatalf("Park: %v, parked %v", err, l.Parked())
	}
	if got := len(c.out[1]); got != 45 {
		t.Fatalf("after Park: %d re-encoded outputs, want all 45 pushed (the decoder's held pictures flushed)", got)
	}
	push(45, 175) // parked through keyframes at 60, 90, 120, 150
	if got := len(c.out[1]); got != 45 {
		t.Fatalf("parked ladder encoded %d frames", got-45)
	}
	if got := len(c.out[0]); got != 175 {
		t.Fatalf("passthrough: %d outputs while parked, want 175", got)
	}
	n, err := l.Resume()
	if err != nil || l.Parked() {
		t.Fatalf("Resume: %v, parked %v", err, l.Parked())
	}
	if n != 175-120 { // from the boundary keyframe at 120 (the segment before the one at 150)
		t.Errorf("caught up on %d frames, want 55", n)
	}
	push(175, 210)
	out := c.out[1][45:]
	if len(out) != 210-120 {
		t.Fatalf("%d re-encoded outputs after resume, want 90", len(out))
	}
	if !out[0].Keyframe || !out[0].Boundary || out[0].PTS != in[120].PTS {
		t.Errorf("first output after resume: keyframe %v boundary %v pts %v, want an IDR boundary at %v",
			out[0].Keyframe, out[0].Boundary, out[0].PTS, in[120].PTS)
	}
	for _, i := range []int{150, 180} {
		if e := out[i-120]; !e.Boundary || !e.Keyframe {
			t.Errorf("output of picture %d: boundary %v keyframe %v, want both", i, e.Boundary, e.Keyframe)
		}
	}
	pics := decodeAll(t, astiav.CodecIDH264, out)
	if len(pics) != len(out) {
		t.Errorf("decoded %d of %d pictures after resume", len(pics), len(out))
	}
}

func TestBacklogBounds(t *testing.T) {
	var b backlog
	frame := func(pts time.Duration, size int) Encoded {
		return Encoded{PTS: pts, Data: make([]byte, size)}
	}
	b.add(frame(0, 10), frameMeta{}, false)
	if len(b.frames) != 0 {
		t.Fatal("a backlog must start at a start frame")
	}
	for i := range 25 { // starts every 10 frames, 100 ms apart
		b.add(frame(time.Duration(i)*100*time.Millisecond, 10), frameMeta{}, i%10 == 0)
	}
	if b.frames[0].in.PTS != time.Second || len(b.frames) != 15 || b.bytes != 150 {
		t.Errorf("kept %d frames from %v (%d bytes), want 15 from 1s", len(b.frames), b.frames[0].in.PTS, b.bytes)
	}
	// Past the span: the oldest frames go up to the next start (2 s), and when that is not
	// enough and no start is left, everything.
	b.add(frame(backlogMaxSpan+3*time.Second, 10), frameMeta{}, false)
	if len(b.frames) != 0 || b.bytes != 0 {
		t.Errorf("over the span: %d frames, %d bytes kept", len(b.frames), b.bytes)
	}
}
