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
