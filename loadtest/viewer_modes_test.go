package loadtest

import (
	"slices"
	"testing"
	"time"
)

// TestBarePacketsMakeTheSameFrames feeds a stream to the light viewer's packet path with
// every payload, and to the bare viewer's with the payload of each frame's first packet
// only (the one it decrypts, nil for the rest): both see the same frames, capture times,
// keyframes and losses.
func TestBarePacketsMakeTheSameFrames(t *testing.T) {
	pkts := packetizeAll(fakeFrames(30), time.Unix(1_700_000_000, 0))
	tests := []struct {
		name string
		drop []int // indexes of packets lost
	}{
		{"all arrive", nil},
		{"a slice packet lost", []int{9}},
		{"a frame's first packet lost", []int{8}},
		{"a marker lost", []int{11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [2]struct {
				frames, noCapture, incomplete, gaps uint64
				joined                              bool
			}
			for mode := range 2 { // 0 light, 1 bare
				v := &webrtcViewer{fs: newFrameStats(&markClock{}, 0), start: time.Unix(1_699_999_999, 0)}
				tr := &trackReader{video: true}
				lastTS, first := uint32(0), true
				for i, p := range pkts {
					isStart := first || p.ts != lastTS
					first, lastTS = false, p.ts
					if slices.Contains(tt.drop, i) {
						continue
					}
					payload := p.payload
					if mode == 1 && !isStart {
						payload = nil
					}
					v.take(tr, p.seq, p.ts, p.marker, payload, len(p.payload)+12, time.Unix(1_700_000_001, 0))
				}
				g := &got[mode]
				g.frames, g.noCapture = v.fs.frames.packets.Load(), v.fs.noCapture.Load()
				g.incomplete, g.gaps = v.rx.incomplete.Load(), v.rx.gaps.Load()
				_, g.joined = v.fs.joined()
			}
			if got[0] != got[1] {
				t.Errorf("light %+v, bare %+v", got[0], got[1])
			}
			if !got[1].joined || got[1].frames == 0 || got[1].noCapture != 0 {
				t.Errorf("bare: %+v, want frames with capture times after a keyframe join", got[1])
			}
		})
	}
}
