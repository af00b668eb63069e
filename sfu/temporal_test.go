package sfu

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// temporalPattern is the TID of each frame in libvpx's three-layer pattern.
var temporalPattern = []int{0, 2, 1, 2}

// sendTemporal pushes frame n (one packet) of a three-temporal-layer VP8 stream: PictureID
// 1000+n, TL0PICIDX counting base-layer frames, a keyframe at n == 0.
func (l *vp8Layer) sendTemporal(n int) {
	tid := temporalPattern[n%len(temporalPattern)]
	p := vp8Pkt(vp8Fields{pic: 1000 + n, pic15: true, tl0: 50 + n/len(temporalPattern), tid: tid, keyIdx: -1})
	p[0] |= 0x10
	p[len(p)-2] = 0x01
	if n == 0 {
		p[len(p)-2] = 0x00
	}
	l.seq++
	l.ts += 3000
	l.up.push(marshalPacket(l.seq, l.ts, p))
}

func newTemporalDownTrack(t *testing.T) (*DownTrack, *vp8Layer, *recordingWriter) {
	t.Helper()
	s := newSlot("video", vp8Codec)
	layer := newVP8Layer(s, "l", 500)
	w := &recordingWriter{}
	d := boundDownTrack(s, w)
	return d, layer, w
}

func TestDownTrackDropsTemporalLayersAboveTheCapWithoutGaps(t *testing.T) {
	d, layer, w := newTemporalDownTrack(t)
	d.setAllocation(1)
	d.setTemporalCap(0) // base layer only
	for n := 0; n < 16; n++ {
		layer.sendTemporal(n)
		d.drain()
	}
	if len(w.pkts) != 4 {
		t.Fatalf("forwarded %d packets with the cap at TID 0, want the 4 base-layer frames", len(w.pkts))
	}
	for i, p := range w.pkts {
		got := readVP8(t, p.Payload)
		if got.tid != 0 || got.pic != 1000+i || got.tl0 != 50+i {
			t.Fatalf("packet %d: TID %d PictureID %d TL0PICIDX %d, want 0, %d, %d", i, got.tid, got.pic, got.tl0, 1000+i, 50+i)
		}
		if i > 0 && p.SequenceNumber != w.pkts[i-1].SequenceNumber+1 {
			t.Fatalf("sequence %d after %d: the dropped packets left a gap", p.SequenceNumber, w.pkts[i-1].SequenceNumber)
		}
		if i > 0 && p.Timestamp != w.pkts[i-1].Timestamp+4*3000 {
			t.Fatalf("timestamp %d after %d: want the source's spacing kept", p.Timestamp, w.pkts[i-1].Timestamp)
		}
	}
	// NACKs map back across the hidden gaps, with the numbers sent the first time.
	for i := range 4 {
		sent := len(w.pkts)
		if n, _, ok := d.resend(w.pkts[i].SequenceNumber, time.Now()); n == 0 || !ok {
			t.Fatalf("resend of packet %d failed (n=%d ok=%v)", i, n, ok)
		}
		if got := readVP8(t, w.pkts[sent].Payload); got.pic != 1000+i || got.tid != 0 {
			t.Fatalf("resent packet %d: PictureID %d TID %d, want %d, 0", i, got.pic, got.tid, 1000+i)
		}
	}
	w.pkts = w.pkts[:4]

	// Lifting the cap takes effect at the next base-layer frame (n = 16), not before.
	d.setTemporalCap(tidAll)
	for n := 16; n < 24; n++ {
		layer.sendTemporal(n)
		d.drain()
	}
	if len(w.pkts) != 4+8 {
		t.Fatalf("forwarded %d packets after lifting the cap, want 4 + 8", len(w.pkts))
	}
	for i := 4; i < len(w.pkts); i++ {
		got := readVP8(t, w.pkts[i].Payload)
		if want := 1000 + i; got.pic != want {
			t.Fatalf("packet %d: PictureID %d, want %d (continuous)", i, got.pic, want)
		}
		if w.pkts[i].SequenceNumber != w.pkts[i-1].SequenceNumber+1 {
			t.Fatalf("sequence %d after %d", w.pkts[i].SequenceNumber, w.pkts[i-1].SequenceNumber)
		}
	}
	if st := d.Stats(); st.TemporalDrops != 12 || st.MaxTemporal != nil {
		t.Fatalf("stats: %d temporal drops, cap %v; want 12 and none", st.TemporalDrops, st.MaxTemporal)
	}
}

func TestDownTrackTemporalCapAppliesOnlyToTheAllocatedLayer(t *testing.T) {
	d, layer, w := newTemporalDownTrack(t)
	d.setAllocation(2) // m allocated with a temporal cap; the viewer is on l (the only layer)
	d.setTemporalCap(0)
	for n := 0; n < 8; n++ {
		layer.sendTemporal(n)
		d.drain()
	}
	if len(w.pkts) != 8 {
		t.Fatalf("forwarded %d packets of a lower layer than the allocated one, want all 8", len(w.pkts))
	}
}

// liveLayer is an UpTrack that looks measured: bitrate, per-TID rates, alive now.
func liveLayer(s *slot, rid string, kbps uint64, tidKbps ...uint64) *UpTrack {
	up := &UpTrack{kind: "video", rid: rid, codec: s.codec, ring: newPacketRing(16), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		publisher: nopRTCP{}, done: make(chan struct{})}
	up.bitrate.Store(kbps * 1000)
	for t, r := range tidKbps {
		up.tidRates[t].Store(r * 1000)
	}
	up.temporal.Store(int32(len(tidKbps)))
	up.lastPacketNs.Store(time.Now().Add(time.Hour).UnixNano())
	s.addLayer(up)
	return up
}

func TestAllocatorFitsTemporalSteps(t *testing.T) {
	s := newSlot("video", vp8Codec)
	liveLayer(s, "l", 150, 80, 40, 30) // TID 0 / 1 / 2 carry 80 / 40 / 30 kbit/s
	liveLayer(s, "m", 500, 260, 140, 100)
	liveLayer(s, "h", 1600) // no temporal layers
	// A paused viewer with the usual headroom: the next step is the lowest that does not fit.
	a := &allocator{d: newDownTrack("v", "s", s, slog.New(slog.NewTextHandler(io.Discard, nil))), room: headroom, current: rankPause}
	tests := []struct {
		budgetKbps float64
		want       string
		nextKbps   uint64
	}{
		{50, "pause", 80},
		{100, "l/t0", 120},
		{150, "l/t1", 150},
		{200, "l", 260},
		{330, "m/t0", 400},
		{500, "m/t1", 500},
		{630, "m", 1600},
		{2000, "h", 0},
	}
	for _, tt := range tests {
		best, lowest, next := a.fit(tt.budgetKbps*1000, time.Now())
		if stepName(best) != tt.want || next != tt.nextKbps*1000 || stepName(lowest) != "l/t0" {
			t.Errorf("budget %v kbit/s: best %q next %d lowest %q; want %q, %d, l/t0", tt.budgetKbps, stepName(best), next/1000,
				stepName(lowest), tt.want, tt.nextKbps)
		}
	}
	for st, want := range map[int32]uint64{newStep(1, 0): 80, newStep(1, 1): 120, newStep(2, tidAll): 500, newStep(3, tidAll): 1600, rankAny: 1600} {
		if got := a.layerBitrate(st, time.Now()); got != want*1000 {
			t.Errorf("layerBitrate(%s) = %d, want %d kbit/s", stepName(st), got/1000, want)
		}
	}
}
