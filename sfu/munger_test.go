package sfu

import (
	"testing"
	"time"
)

// pkt is one source packet fed to the munger at a wall-clock offset from t0.
type pkt struct {
	seq uint16
	ts  uint32
	at  time.Duration
}

// wantOut is what apply should return for it.
type wantOut struct {
	seq uint16
	ts  uint32
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// feed rebases m on the first packet (srcExt is its extended number) and applies all of them.
func feed(t *testing.T, m *munger, srcExt uint64, keepTimeline bool, pkts []pkt, want []wantOut) {
	t.Helper()
	m.rebase(srcExt, pkts[0].ts, t0.Add(pkts[0].at), keepTimeline)
	for i, p := range pkts {
		seq, ts := m.apply(p.seq, p.ts, t0.Add(p.at))
		if seq != want[i].seq || ts != want[i].ts {
			t.Fatalf("apply(%d, %d) #%d = (%d, %d), want (%d, %d)", p.seq, p.ts, i, seq, ts, want[i].seq, want[i].ts)
		}
	}
}

func TestMungerFirstEpochKeepsNumbers(t *testing.T) {
	m := munger{clockRate: 90000}
	feed(t, &m, 1<<16+1000, false,
		[]pkt{{1000, 5000, 0}, {1001, 5000, 0}, {1002, 8000, 33 * time.Millisecond}, {1004, 11000, 66 * time.Millisecond}, {1003, 8000, 70 * time.Millisecond}},
		[]wantOut{{1000, 5000}, {1001, 5000}, {1002, 8000}, {1004, 11000}, {1003, 8000}})
	if m.highestSeq != 1004 || m.lastTS != 11000 {
		t.Fatalf("highest %d lastTS %d: a late packet must not move them back", m.highestSeq, m.lastTS)
	}
	if got := m.timestamp(12345); got != 12345 {
		t.Fatalf("timestamp(12345) = %d", got)
	}
}

func TestMungerSourceSwitch(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration // wall time from the last packet of source A to the first of B
		clock   uint32
		wantTS  uint32 // outgoing timestamp of B's first packet
	}{
		{"100 ms at 90 kHz", 100 * time.Millisecond, 90000, 11000 + 9000},
		{"1 s at 90 kHz", time.Second, 90000, 11000 + 90000},
		{"20 ms at 48 kHz", 20 * time.Millisecond, 48000, 11000 + 960},
		{"same instant advances one tick", 0, 90000, 11000 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := munger{clockRate: tt.clock}
			feed(t, &m, 1<<16+1000, false,
				[]pkt{{1000, 5000, 0}, {1001, 8000, 33 * time.Millisecond}, {1002, 11000, 66 * time.Millisecond}},
				[]wantOut{{1000, 5000}, {1001, 8000}, {1002, 11000}})
			// Source B: unrelated numbers and clock.
			at := 66*time.Millisecond + tt.elapsed
			feed(t, &m, 5<<16+40000, false,
				[]pkt{{40000, 777, at}, {40001, 777, at}, {40002, 3777, at + 33*time.Millisecond}, {40004, 6777, at + 66*time.Millisecond}},
				[]wantOut{{1003, tt.wantTS}, {1004, tt.wantTS}, {1005, tt.wantTS + 3000}, {1007, tt.wantTS + 6000}})
			if got := m.timestamp(777 + 90); got != tt.wantTS+90 {
				t.Fatalf("timestamp in epoch B = %d, want %d", got, tt.wantTS+90)
			}
		})
	}
}

func TestMungerResumeSameSource(t *testing.T) {
	m := munger{clockRate: 90000}
	feed(t, &m, 1<<16+1000, false,
		[]pkt{{1000, 5000, 0}, {1001, 8000, 33 * time.Millisecond}},
		[]wantOut{{1000, 5000}, {1001, 8000}})
	// The viewer fell behind and skipped to a keyframe at 1500: the sequence closes the gap,
	// the timestamps keep the source's own clock.
	feed(t, &m, 1<<16+1500, true,
		[]pkt{{1500, 900000, 2 * time.Second}, {1501, 903000, 2*time.Second + 33*time.Millisecond}},
		[]wantOut{{1002, 900000}, {1003, 903000}})
}

func TestMungerSourceOf(t *testing.T) {
	m := munger{clockRate: 90000}
	if _, ok := m.sourceOf(0); ok {
		t.Fatal("sourceOf before any epoch is ok")
	}
	// Epoch A: source 1000..1009 (ext 1<<16+…) sent as 1000..1009.
	var a []pkt
	var aw []wantOut
	for i := range uint16(10) {
		a = append(a, pkt{1000 + i, 3000 * uint32(i), time.Duration(i) * 33 * time.Millisecond})
		aw = append(aw, wantOut{1000 + i, 3000 * uint32(i)})
	}
	feed(t, &m, 1<<16+1000, false, a, aw)
	checkSourceOf(t, &m, "epoch A", []sourceOfCase{
		{1000, 1<<16 + 1000, true},
		{1005, 1<<16 + 1005, true},
		{1009, 1<<16 + 1009, true},
		{999, 0, false},  // before the epoch
		{1010, 0, false}, // not sent yet
		{60000, 0, false},
	})
	// Epoch B: source 7<<16+200.. sent as 1010..1014.
	var b []pkt
	var bw []wantOut
	for i := range uint16(5) {
		b = append(b, pkt{200 + i, 100 + uint32(i), time.Second})
	}
	m.rebase(7<<16+200, 100, t0.Add(time.Second), false)
	if _, ok := m.sourceOf(1010); ok {
		t.Fatal("sourceOf(1010) is ok before epoch B sent it")
	}
	if _, ok := m.sourceOf(1005); ok {
		t.Fatal("sourceOf(1005) of epoch A is ok after the rebase: it would map to the wrong source")
	}
	for _, p := range b {
		seq, _ := m.apply(p.seq, p.ts, t0.Add(p.at))
		bw = append(bw, wantOut{seq: seq})
	}
	if bw[0].seq != 1010 || bw[4].seq != 1014 {
		t.Fatalf("epoch B sent %v, want 1010..1014", bw)
	}
	checkSourceOf(t, &m, "epoch B", []sourceOfCase{
		{1010, 7<<16 + 200, true},
		{1014, 7<<16 + 204, true},
		{1009, 0, false}, // epoch A
		{1000, 0, false},
		{1015, 0, false},
	})
}

// sourceOfCase is what sourceOf(out) must answer: the source sequence number, or !ok.
type sourceOfCase struct {
	out  uint16
	want uint64
	ok   bool
}

// checkSourceOf checks m.sourceOf for each case; what names the epoch in the failures.
func checkSourceOf(t *testing.T, m *munger, what string, cases []sourceOfCase) {
	t.Helper()
	for _, tc := range cases {
		got, ok := m.sourceOf(tc.out)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: sourceOf(%d) = %d, %v; want %d, %v", what, tc.out, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMungerWrapAround(t *testing.T) {
	m := munger{clockRate: 90000}
	// The source starts near the top of sequence and timestamp space.
	var in []pkt
	var want []wantOut
	for i := range uint16(10) {
		seq := 65530 + i // wraps after 65535
		ts := uint32(0xffffffff-3000) + 3000*uint32(i)
		in = append(in, pkt{seq, ts, time.Duration(i) * 33 * time.Millisecond})
		want = append(want, wantOut{seq, ts})
	}
	feed(t, &m, 1<<16+65530, false, in, want)
	if m.highestSeq != 3 {
		t.Fatalf("highest %d, want 3", m.highestSeq)
	}
	for out, src := range map[uint16]uint64{65530: 1<<16 + 65530, 65535: 1<<16 + 65535, 0: 2 << 16, 3: 2<<16 + 3} {
		if got, ok := m.sourceOf(out); !ok || got != src {
			t.Errorf("sourceOf(%d) = %d, %v; want %d", out, got, ok, src)
		}
	}
	if _, ok := m.sourceOf(4); ok {
		t.Error("sourceOf(4) ok: not sent yet")
	}
	if _, ok := m.sourceOf(65529); ok {
		t.Error("sourceOf(65529) ok: before the epoch")
	}
	// A switch one second after the last packet continues at 4, one second of clock later
	// (the timestamp wraps too).
	last := 9 * 33 * time.Millisecond
	feed(t, &m, 9<<16+100, false, []pkt{{100, 50, last + time.Second}}, []wantOut{{4, 23999 + 90000}})
}

func TestMungerSwitchAtTopOfSequenceSpace(t *testing.T) {
	m := munger{clockRate: 90000}
	feed(t, &m, 1<<16+65534, false, []pkt{{65534, 10, 0}, {65535, 20, 0}}, []wantOut{{65534, 10}, {65535, 20}})
	feed(t, &m, 3<<16+7, false, []pkt{{7, 1, 0}, {8, 2, 0}}, []wantOut{{0, 21}, {1, 22}})
	if got, ok := m.sourceOf(0); !ok || got != 3<<16+7 {
		t.Fatalf("sourceOf(0) = %d, %v", got, ok)
	}
	if _, ok := m.sourceOf(65535); ok {
		t.Fatal("sourceOf(65535) of the previous epoch is ok")
	}
}

// TestMungerSourceOfLongEpoch: a viewer that never switches stays in one epoch for the whole
// session; NACKs for recent packets must still map back after more than 32768 packets.
func TestMungerSourceOfLongEpoch(t *testing.T) {
	const start = 1<<16 + 100
	for _, sent := range []int{40000, 70000} {
		m := munger{clockRate: 90000}
		m.rebase(start, 0, t0, false)
		for i := range sent {
			m.apply(uint16(start+i), uint32(i)*3000, t0)
		}
		for _, back := range []int{1, 10, 500} {
			srcExt := uint64(start + sent - back)
			out := uint16(srcExt) // first epoch: outgoing numbers equal the source's
			if got, ok := m.sourceOf(out); !ok || got != srcExt {
				t.Errorf("after %d packets, %d back: sourceOf(%d) = %d, %v; want %d", sent, back, out, got, ok, srcExt)
			}
		}
	}
}
