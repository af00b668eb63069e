package transcoder

import (
	"testing"
	"time"

	"github.com/glint-video/glint/media"
)

// TestLadderRequestKeyframe: an H.265 source with keyframes every 45 pictures through a
// passthrough rung, a SourceSize rung and a lower rung; RequestKeyframe on the SourceSize rung
// before picture 20 makes that rung's next output an IDR (not a segment boundary), and no
// other rung's. The SourceSize rung is constrained baseline (profile_idc 66 with
// constraint_set1, as WebRTC viewers need), the lower rung main (77).
func TestLadderRequestKeyframe(t *testing.T) {
	in := synthVideo(t, "H265", 320, 240, 30, 60, 0, 45)
	rungs := []Rung{{Name: "source", Width: 320, Height: 240, Passthrough: true, BitrateKbps: 500},
		{Name: "240p", Height: 240, BitrateKbps: 500, SourceSize: true}, {Name: "180p", Height: 180, BitrateKbps: 250}}
	c := &collector{}
	l, err := NewLadder(LadderConfig{SourceCodec: "H265", Rungs: rungs, SegmentDuration: time.Second, MaxLoad: -1,
		Output: c.add, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i, e := range in {
		if i == 20 {
			l.RequestKeyframe(1)
			l.RequestKeyframe(0) // a passthrough rung: ignored
		}
		if err := l.Push(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	keys := func(out []Encoded) (at []int) {
		for i, e := range out {
			if e.Keyframe {
				at = append(at, i)
			}
		}
		return at
	}
	if got := keys(c.out[1]); len(got) != 3 || got[0] != 0 || got[1] != 20 || got[2] != 45 {
		t.Errorf("source-size rung keyframes at %v, want [0 20 45]", got)
	}
	if c.out[1][20].Boundary {
		t.Error("the requested IDR is marked a segment boundary")
	}
	if got := keys(c.out[2]); len(got) != 2 || got[0] != 0 || got[1] != 45 {
		t.Errorf("180p keyframes at %v, want [0 45]", got)
	}
	for rung, want := range map[int]byte{1: 66, 2: 77} {
		sps, _ := media.H264ParameterSets(media.SplitAnnexB(c.out[rung][0].Data))
		if len(sps) < 3 || sps[1] != want || want == 66 && sps[2]&0x40 == 0 {
			t.Errorf("rung %d SPS profile %x, want profile_idc %d (66: with constraint_set1)", rung, sps[:min(3, len(sps))], want)
		}
	}
}
