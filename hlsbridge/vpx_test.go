package hlsbridge

import (
	"bytes"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
)

// vp8Frame returns a VP8 frame of n bytes: a keyframe (with a 320x240 frame header) or not.
func vp8Frame(key bool, n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	b[0] |= 1 // P bit: inter frame
	if key {
		b[0] &^= 1
		copy(b[3:], []byte{0x9d, 0x01, 0x2a, 320 & 0xff, 320 >> 8, 240, 0})
	}
	return b
}

func TestVP8Depacketizer(t *testing.T) {
	key1, delta1, delta2, key2 := vp8Frame(true, 3000, 1), vp8Frame(false, 2500, 2), vp8Frame(false, 900, 3), vp8Frame(true, 2000, 4)
	tests := []struct {
		name    string
		frames  [][]byte
		lose    map[[2]int]bool // frame, packet
		want    [][]byte
		dropped int
	}{
		{name: "whole frames", frames: [][]byte{key1, delta1, delta2}, want: [][]byte{key1, delta1, delta2}},
		{name: "delta before the first keyframe", frames: [][]byte{delta1, key1}, want: [][]byte{key1}, dropped: 1},
		{
			name: "lost middle packet: dropped until the next keyframe", frames: [][]byte{key1, delta1, delta2, key2},
			lose: map[[2]int]bool{{1, 1}: true}, want: [][]byte{key1, key2}, dropped: 2,
		},
		{
			name: "lost first packet", frames: [][]byte{key1, delta1, delta2, key2},
			lose: map[[2]int]bool{{1, 0}: true}, want: [][]byte{key1, key2}, dropped: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newVPXDepacketizer(false)
			var pay codecs.VP8Payloader
			var got []frame
			seq := uint16(100)
			for fi, f := range tt.frames {
				pkts := pay.Payload(1200, f)
				for pi, p := range pkts {
					seq++
					if tt.lose[[2]int{fi, pi}] {
						continue
					}
					got = d.push(rtpPacket{seq: seq, ts: uint32(fi * 6000), marker: pi == len(pkts)-1, payload: p, arrival: time.Now()}, got)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d frames, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i].data, tt.want[i]) || got[i].keyframe != (tt.want[i][0]&1 == 0) {
					t.Errorf("frame %d differs (key %v)", i, got[i].keyframe)
				}
			}
			if d.stats() != tt.dropped {
				t.Errorf("dropped %d, want %d", d.stats(), tt.dropped)
			}
		})
	}
}

func TestFrameSize(t *testing.T) {
	// SPS and PPS of a 320x240 x264 baseline stream, as ffmpeg writes them.
	sps, _ := hex.DecodeString("6742c00cd90141fb0110000003001000000301e0f142a480")
	pps, _ := hex.DecodeString("68cb83cb20")
	au := append(append(append([]byte{0, 0, 0, 1}, sps...), 0, 0, 0, 1), pps...)
	au = append(au, 0, 0, 1, 0x65, 0x88, 0x84)
	for _, tc := range []struct {
		codec string
		data  []byte
		w, h  int
		ok    bool
	}{
		{"H264", au, 320, 240, true},
		{"H264", []byte{0, 0, 0, 1, 0x65, 0x88}, 0, 0, false},
		{"VP8", vp8Frame(true, 100, 0), 320, 240, true},
		{"VP8", vp8Frame(false, 100, 0), 0, 0, false},
		{"VP9", []byte{0x00, 0x01}, 0, 0, false},
	} {
		w, h, ok := frameSize(tc.codec, tc.data)
		if w != tc.w || h != tc.h || ok != tc.ok {
			t.Errorf("frameSize(%s, %x...) = %d, %d, %v; want %d, %d, %v", tc.codec, tc.data[:min(6, len(tc.data))], w, h, ok, tc.w, tc.h, tc.ok)
		}
	}
}

func TestRTPClock(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := rtpClock{rate: 90000}
	const base = 10 * time.Second
	start := uint32(0xffffe000) // just below the wrap: the steps wrap around
	steps := []struct {
		ts      uint32
		arrival time.Duration
		want    time.Duration
	}{
		{start, base, base}, // anchor
		{start + 9000, base + 120*time.Millisecond, base + 100*time.Millisecond}, // wraps: +100 ms
		{start + 90000, base + time.Second, base + time.Second},
		{start + 45000, base + 1100*time.Millisecond, base + 500*time.Millisecond}, // late (reordered) frame
		{0x40000000, base + 1200*time.Millisecond, base + 1200*time.Millisecond},   // jump: re-anchored
		{0x40000000 + 900, base + 1300*time.Millisecond, base + 1210*time.Millisecond},
	}
	for i, s := range steps {
		if got := c.pts(s.ts, s.arrival, log); got != s.want {
			t.Errorf("step %d: pts %v, want %v", i, got, s.want)
		}
	}
	c.reset()
	if got := c.pts(5, 42*time.Second, log); got != 42*time.Second {
		t.Errorf("after reset: %v, want the arrival", got)
	}
	// Settling: the first frame came late; the next one, 23 ms earlier than mapped, moves
	// the anchor back, but by no more than keeps it half a frame (16.7 ms) after the first.
	c = rtpClock{rate: 90000}
	for i, s := range []struct {
		ts            uint32
		arrival, want time.Duration
	}{{0, 100 * ms, 100 * ms}, {3000, 110 * ms, 116666666}, {6000, 170 * ms, 149999999}} {
		if got := c.pts(s.ts, s.arrival, log); got != s.want {
			t.Errorf("settling step %d: pts %v, want %v", i, got, s.want)
		}
	}
	if c.shift != 16666667 {
		t.Errorf("shift %v, want 16.666667ms", c.shift)
	}
}

// TestRTPClockBurst: a source that hands on its first second at once (30 frames within
// 3 ms, then real time) gets timestamps that keep increasing by at least half a frame, and
// the anchor ends up near the earliest arrivals once real-time frames follow.
func TestRTPClockBurst(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := rtpClock{rate: 90000}
	const frame = 3000 // 33.3 ms at 90 kHz
	var last time.Duration
	for i := range 60 {
		arrival := time.Second + time.Duration(i)*100*time.Microsecond // the burst
		if i >= 30 {
			arrival = time.Second + time.Duration(i-29)*time.Second/30 // then real time
		}
		got := c.pts(uint32(i*frame), arrival, log)
		if i > 0 && got-last < time.Second/60 {
			t.Fatalf("frame %d: pts %v only %v after the previous one", i, got, got-last)
		}
		last = got
	}
	if c.shift < 500*time.Millisecond {
		t.Errorf("shift %v: the anchor should have moved back most of the burst's second", c.shift)
	}
}

const ms = time.Millisecond
