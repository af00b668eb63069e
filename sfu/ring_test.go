package sfu

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
)

// payloadFor makes a packet whose bytes identify extSeq.
func payloadFor(extSeq uint64, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(extSeq) + byte(i)
	}
	return p
}

func TestNewPacketRingSize(t *testing.T) {
	for size, want := range map[int]uint64{0: 1, 1: 1, 2: 2, 3: 4, 100: 128, 1024: 1024, 1025: 2048} {
		if got := newPacketRing(size).Size(); got != want {
			t.Errorf("newPacketRing(%d).Size() = %d, want %d", size, got, want)
		}
	}
}

func TestPacketRingPutCopyOut(t *testing.T) {
	r := newPacketRing(8)
	if r.Head() != 0 {
		t.Fatalf("empty ring head %d", r.Head())
	}
	base := uint64(1 << 16)
	at := time.Unix(1000, 0)
	for i := range uint64(5) {
		if !r.Put(base+i, payloadFor(base+i, 100+int(i)), at.Add(time.Duration(i)*time.Millisecond), false) {
			t.Fatalf("Put(%d) refused", base+i)
		}
	}
	if r.Head() != base+4 {
		t.Fatalf("head %d, want %d", r.Head(), base+4)
	}
	dst := make([]byte, maxPacketSize)
	for i := range uint64(5) {
		n, arrival := r.CopyOut(base+i, dst)
		if n != 100+int(i) || !bytes.Equal(dst[:n], payloadFor(base+i, n)) {
			t.Fatalf("CopyOut(%d) = %d bytes % x", base+i, n, dst[:min(n, 8)])
		}
		if !arrival.Equal(at.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("CopyOut(%d) arrival %v", base+i, arrival)
		}
	}
	for _, missing := range []uint64{base - 1, base + 5, base + 8, 0} {
		if n, arrival := r.CopyOut(missing, dst); n != 0 || !arrival.IsZero() {
			t.Errorf("CopyOut(%d) = %d, %v for a packet never stored", missing, n, arrival)
		}
	}
}

func TestPacketRingGapsAndReordering(t *testing.T) {
	r := newPacketRing(8)
	base := uint64(1 << 16)
	dst := make([]byte, maxPacketSize)
	r.Put(base+3, payloadFor(base+3, 10), time.Time{}, false)
	r.Put(base+1, payloadFor(base+1, 10), time.Time{}, false) // late, still in the window
	if r.Head() != base+3 {
		t.Fatalf("head %d after a late packet, want %d", r.Head(), base+3)
	}
	if n, _ := r.CopyOut(base+2, dst); n != 0 {
		t.Fatalf("CopyOut of the gap = %d bytes", n)
	}
	if n, _ := r.CopyOut(base+1, dst); n != 10 {
		t.Fatalf("CopyOut of the late packet = %d bytes", n)
	}
	// Duplicate: the second copy replaces the first.
	r.Put(base+3, payloadFor(99, 20), time.Time{}, false)
	if n, _ := r.CopyOut(base+3, dst); n != 20 || !bytes.Equal(dst[:n], payloadFor(99, 20)) {
		t.Fatalf("duplicate: CopyOut = %d bytes", n)
	}
}

func TestPacketRingOverwriteAfterFullLap(t *testing.T) {
	r := newPacketRing(8)
	base := uint64(1 << 16)
	for i := range uint64(20) {
		r.Put(base+i, payloadFor(base+i, 50), time.Time{}, false)
	}
	dst := make([]byte, maxPacketSize)
	for i := range uint64(20) {
		n, _ := r.CopyOut(base+i, dst)
		held := i >= 12 // the last 8
		if held != (n != 0) {
			t.Errorf("CopyOut(base+%d) = %d bytes, held = %v", i, n, held)
		}
		if held && !bytes.Equal(dst[:n], payloadFor(base+i, 50)) {
			t.Errorf("CopyOut(base+%d) returned another packet's bytes", i)
		}
	}
}

func TestPacketRingRefusesTooOld(t *testing.T) {
	r := newPacketRing(8)
	base := uint64(1 << 16)
	r.Put(base+20, payloadFor(base+20, 10), time.Time{}, false)
	tests := []struct {
		extSeq uint64
		want   bool
	}{
		{base + 12, false}, // exactly one ring behind the head: its slot is the head's
		{base + 3, false},
		{base + 13, true}, // oldest the window holds
		{base + 19, true},
		{base + 21, true},
	}
	dst := make([]byte, maxPacketSize)
	for _, tt := range tests {
		if got := r.Put(tt.extSeq, payloadFor(tt.extSeq, 10), time.Time{}, false); got != tt.want {
			t.Errorf("Put(base+%d) = %v, want %v", tt.extSeq-base, got, tt.want)
		}
	}
	// The refused packet did not overwrite the head's slot.
	if n, _ := r.CopyOut(base+20, dst); n != 10 || !bytes.Equal(dst[:n], payloadFor(base+20, 10)) {
		t.Fatalf("head packet lost after a too-old Put: %d bytes", n)
	}
}

func TestPacketRingRefusesOversize(t *testing.T) {
	r := newPacketRing(4)
	if r.Put(1<<16, make([]byte, maxPacketSize+1), time.Time{}, true) {
		t.Fatal("oversize packet stored")
	}
	if r.Head() != 0 || r.lastKey != 0 {
		t.Fatalf("oversize packet moved head %d / lastKey %d", r.Head(), r.lastKey)
	}
	if !r.Put(1<<16, make([]byte, maxPacketSize), time.Time{}, false) {
		t.Fatal("maximum-size packet refused")
	}
}

func TestPacketRingLastKey(t *testing.T) {
	r := newPacketRing(16)
	base := uint64(1 << 16)
	steps := []struct {
		extSeq uint64
		key    bool
		want   uint64
	}{
		{base + 1, false, 0},
		{base + 2, true, base + 2},
		{base + 3, false, base + 2},
		{base + 6, true, base + 6},
		{base + 5, true, base + 6}, // a late keyframe start does not move it back
		{base + 7, false, base + 6},
		{base + 40, true, base + 40},
	}
	for _, s := range steps {
		r.Put(s.extSeq, []byte{1}, time.Time{}, s.key)
		if r.lastKey != s.want {
			t.Fatalf("after Put(base+%d, key %v): lastKey %d, want %d", s.extSeq-base, s.key, r.lastKey, s.want)
		}
	}
	// A refused (too old) keyframe does not count.
	r.Put(base+2, []byte{1}, time.Time{}, true)
	if r.lastKey != base+40 {
		t.Fatalf("lastKey %d after a refused keyframe", r.lastKey)
	}
}

// TestPacketRingKeyframeStarts: the ring remembers which packets start a keyframe (a
// retransmitted copy keeps the mark, a start moved back is marked) and finds the first
// packet of the newest keyframe from any later packet of its picture.
func TestPacketRingKeyframeStarts(t *testing.T) {
	r := newPacketRing(16)
	base := uint64(1 << 16)
	put := func(ext uint64, ts uint32, key bool) {
		r.Put(ext, marshalPacket(uint16(ext), ts, []byte{1}), time.Time{}, key)
	}
	put(base+1, 3000, true)
	put(base+2, 3000, false)
	put(base+1, 3000, false) // a retransmitted copy
	put(base+3, 6000, false)
	if !r.IsKeyframeStart(base+1) || r.IsKeyframeStart(base+2) || r.IsKeyframeStart(base+9) {
		t.Fatal("keyframe start marks: want base+1 only")
	}
	if start, ok := r.PictureKeyframeStart(base + 2); !ok || start != base+1 {
		t.Fatalf("PictureKeyframeStart(base+2) = %d, %v; want base+1 (same picture)", start-base, ok)
	}
	if _, ok := r.PictureKeyframeStart(base + 3); ok {
		t.Fatal("PictureKeyframeStart of a later picture's packet is ok")
	}
	put(base+6, 9000, false)
	put(base+7, 9000, true)
	put(base+5, 9000, false)
	r.moveKeyframeBack(base + 5)
	if !r.IsKeyframeStart(base+5) || r.lastKey != base+5 {
		t.Fatalf("a start moved back to base+5: marked %v, lastKey base+%d", r.IsKeyframeStart(base+5), r.lastKey-base)
	}
	if start, ok := r.PictureKeyframeStart(base + 7); !ok || start != base+5 {
		t.Fatalf("PictureKeyframeStart(base+7) = base+%d, %v; want base+5", start-base, ok)
	}
}

func TestPacketRingAllocatesNothing(t *testing.T) {
	r := newPacketRing(64)
	pkt, dst := payloadFor(1, 1200), make([]byte, maxPacketSize)
	seq := uint64(1 << 16)
	now := time.Now()
	allocs := testing.AllocsPerRun(200, func() {
		r.Put(seq, pkt, now, false)
		r.CopyOut(seq, dst)
		seq++
	})
	if allocs != 0 {
		t.Fatalf("Put+CopyOut allocate %v times", allocs)
	}
}

// TestPacketRingConcurrent: one writer, several readers at their own pace (run with -race).
func TestPacketRingConcurrent(t *testing.T) {
	r := newPacketRing(64)
	const total = 5000
	base := uint64(1 << 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range uint64(total) {
			r.Put(base+i, payloadFor(base+i, 64), time.Time{}, i%100 == 0)
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, maxPacketSize)
			for cursor := base; cursor < base+total; {
				head := r.Head()
				if head < cursor {
					runtime.Gosched()
					continue
				}
				if n, _ := r.CopyOut(cursor, dst); n != 0 && !bytes.Equal(dst[:n], payloadFor(cursor, 64)) {
					t.Errorf("CopyOut(%d) returned another packet's bytes", cursor)
					return
				}
				cursor++
			}
		}()
	}
	wg.Wait()
}
