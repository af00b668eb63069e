package sfu

import (
	"testing"
	"time"
)

// TestMungerKeepsEarlierEpochsOfOneTimeline: packets dropped between epochs of the same
// timeline (temporal layers) leave no gap in the outgoing numbers, NACKs for any of them map
// back to the right source packet, numbers reserved for packets missing before a drop stay
// free, and another source forgets them all.
func TestMungerKeepsEarlierEpochsOfOneTimeline(t *testing.T) {
	m := munger{clockRate: 90000}
	const base = 1 << 16
	send := func(srcExt uint64, rebase bool) uint16 {
		if rebase {
			m.rebase(srcExt, uint32(srcExt)*3000, t0, true)
		}
		seq, _ := m.apply(uint16(srcExt), uint32(srcExt)*3000, t0)
		return seq
	}
	// Source 100, 101 sent; 102 dropped; 103 sent; 104 missing, 105 dropped; 106 sent.
	m.rebase(base+100, 300000, t0, false)
	out := map[uint64]uint16{base + 100: send(base+100, false), base + 101: send(base+101, false)}
	out[base+103] = send(base+103, true)
	m.reserve(1) // 104 was missing when 105 was dropped
	out[base+106] = send(base+106, true)
	want := map[uint64]uint16{base + 100: 100, base + 101: 101, base + 103: 102, base + 106: 104}
	for src, seq := range want {
		if out[src] != seq {
			t.Fatalf("source %d went out as %d, want %d", src-base, out[src], seq)
		}
	}
	tests := []struct {
		out  uint16
		src  uint64
		ok   bool
		note string
	}{
		{100, base + 100, true, "first epoch"},
		{101, base + 101, true, "first epoch"},
		{102, base + 103, true, "second epoch"},
		{103, base + 104, true, "reserved for the missing packet"},
		{104, base + 106, true, "current epoch"},
		{105, 0, false, "not sent yet"},
		{99, 0, false, "before everything"},
	}
	for _, tt := range tests {
		src, ok := m.sourceOf(tt.out)
		if ok != tt.ok || src != tt.src {
			t.Errorf("sourceOf(%d) = %d, %v; want %d, %v (%s)", tt.out, src-base, ok, tt.src-base, tt.ok, tt.note)
		}
	}
	m.rebase(7<<16, 5, t0.Add(time.Second), false)
	m.apply(0, 5, t0.Add(time.Second))
	if _, ok := m.sourceOf(101); ok {
		t.Fatal("an epoch of the previous source is still mapped after a source switch")
	}
}
