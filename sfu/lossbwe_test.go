package sfu

import (
	"testing"
	"time"
)

func TestLossBWE(t *testing.T) {
	// Each step is one receiver report a second after the previous: the share of the video
	// packets NACKed (percent), the report's own fraction lost (0-255) and the rate sent in
	// that second (kbit/s); want is the estimate after it (kbit/s), within 1 %.
	type report struct {
		nackedPct, fractionLost, sentKbps int
		want                              float64
	}
	cases := []struct {
		name    string
		initial float64
		reports []report
	}{
		{"heavy loss cuts to what got through", 3000, []report{
			{nackedPct: 60, sentKbps: 1700, want: 680}, // min(3000×0.7, 1700×0.4)
		}},
		{"the report's fraction lost counts when NACKs show less", 3000, []report{
			{fractionLost: 128, sentKbps: 1000, want: 500}, // 50 %: min(3000×0.75, 1000×0.5)
		}},
		{"moderate loss holds", 1000, []report{
			{nackedPct: 5, sentKbps: 500, want: 1000},
			{nackedPct: 9, sentKbps: 500, want: 1000},
		}},
		{"no loss reaches 1.5 times the rate sent at once", 300, []report{
			{sentKbps: 400, want: 600},
		}},
		{"no loss never lowers the estimate", 3000, []report{
			{sentKbps: 400, want: 3000},
		}},
		{"a little loss grows 8 % a second up to the reach", 500, []report{
			{nackedPct: 1, sentKbps: 400, want: 540},
			{nackedPct: 1, sentKbps: 400, want: 583.2},
			{nackedPct: 1, sentKbps: 400, want: 600},
		}},
		{"never below the floor", 100, []report{
			{nackedPct: 100, sentKbps: 10, want: 30},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			l := newLossBWE(c.initial*1000, start)
			var s lossSample
			for i, r := range c.reports {
				const packets = 1000
				s.packets += packets
				s.nacked += uint64(r.nackedPct * packets / 100)
				s.sentBytes += uint64(r.sentKbps * 1000 / 8)
				s.fractionLost = uint8(r.fractionLost)
				l.onReport(s, start.Add(time.Duration(i+1)*time.Second))
				got, fromReports := l.value()
				if !fromReports {
					t.Fatalf("report %d: the estimate is not from reports", i)
				}
				if diff := float64(got)/1000 - r.want; diff > r.want/100 || diff < -r.want/100 {
					t.Fatalf("report %d: estimate %.1f kbit/s, want %.1f", i, float64(got)/1000, r.want)
				}
			}
		})
	}
}

func TestLossBWEHeavyLossIsRecent(t *testing.T) {
	start := time.Unix(1000, 0)
	l := newLossBWE(1_000_000, start)
	if l.heavyLoss(start) {
		t.Fatal("heavy loss before any report")
	}
	l.onReport(lossSample{packets: 100, nacked: 50, sentBytes: 100_000}, start.Add(time.Second))
	if !l.heavyLoss(start.Add(2 * time.Second)) {
		t.Fatal("50 % loss a second ago is not heavy loss")
	}
	if l.heavyLoss(start.Add(time.Second + lossHeavyFor + time.Millisecond)) {
		t.Fatal("heavy loss still reported after lossHeavyFor")
	}
}

// A receiver report whose interval overlaps a probe's window shows the probe's loss and rate:
// it neither cuts nor grows the estimate nor counts as heavy loss or as the path's usual loss;
// the first report after the window counts again.
func TestLossBWEProbeWindowIsTheProbes(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	l := newLossBWE(600_000, start)
	l.onReport(lossSample{packets: 100, sentBytes: 50_000}, at(1)) // 400 kbit/s, no loss: 600
	l.probeWindow(at(1.5), at(2.9))                                // a probe from 1.5 s, its NACKs back by 2.9 s
	l.onReport(lossSample{packets: 200, nacked: 30, sentBytes: 150_000}, at(2))
	l.onReport(lossSample{packets: 300, nacked: 30, sentBytes: 300_000}, at(3)) // 1.2 Mbit/s sent, no loss
	if got, _ := l.value(); got != 600_000 {
		t.Fatalf("estimate %d after the probe's reports, want 600000 (neither cut by its loss nor grown by its rate)", got)
	}
	if l.heavyLoss(at(3)) {
		t.Fatal("the probe's 30 % loss counts as heavy loss")
	}
	if u := l.usualLoss(); u != 0 {
		t.Fatalf("usual loss %.2f, want 0 (the probe's loss is not the path's)", u)
	}
	l.onReport(lossSample{packets: 400, nacked: 60, sentBytes: 350_000}, at(4)) // after it: 30 % loss
	if !l.heavyLoss(at(4)) {
		t.Fatal("30 % loss after the probe's window is not heavy loss")
	}
	if got, _ := l.value(); got >= 600_000 {
		t.Fatalf("estimate %d after heavy loss outside the probe, want it cut", got)
	}
}
