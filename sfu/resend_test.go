package sfu

import (
	"slices"
	"testing"
	"time"
)

// TestRepeatedNACKsBackOff: a receiver that NACKs a packet at each 100 ms tick whether or not
// a repair is on its way (pion's NACK generator, which never sees RTX repairs) gets it again
// only once the previous repair had time to arrive, minResendGap or the round trip, twice as
// long before each further repair, and at most maxResends times.
func TestRepeatedNACKsBackOff(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	resends := func(d *DownTrack, ticks int, every time.Duration) []int {
		var at []int
		for i := range ticks {
			if d.resendAllowed(7, start.Add(time.Duration(i)*every)) {
				at = append(at, i*int(every/time.Millisecond))
			}
		}
		return at
	}
	d := &DownTrack{}
	if got, want := resends(d, 15, 100*time.Millisecond), []int{0, 100, 300, 700}; !slices.Equal(got, want) {
		t.Errorf("NACKed every 100 ms, resent at %v ms, want %v", got, want)
	}
	if d.stats.nackedFirst.Load() != 1 || d.stats.resendsRefused.Load() != 11 {
		t.Errorf("first NACKs %d, refused %d: want 1 and 11", d.stats.nackedFirst.Load(), d.stats.resendsRefused.Load())
	}
	d = &DownTrack{}
	d.stats.rttMicros.Store(uint64(150 * time.Millisecond / time.Microsecond))
	if got, want := resends(d, 15, 100*time.Millisecond), []int{0, 200, 500, 1100}; !slices.Equal(got, want) {
		t.Errorf("with a 150 ms RTT, NACKed every 100 ms, resent at %v ms, want %v", got, want)
	}
	d = &DownTrack{}
	if got, want := resends(d, 25, 30*time.Millisecond), []int{0, 90, 270, 600}; !slices.Equal(got, want) {
		t.Errorf("NACKed every 30 ms, resent at %v ms, want %v", got, want)
	}
}

// TestRepairsThatWouldArriveLateAreRefused: a packet is repaired only while the repair can
// reach the viewer before the packet is staleAfter old, its way there the viewer's RTT and at
// least repairTransit.
func TestRepairsThatWouldArriveLateAreRefused(t *testing.T) {
	arrival := time.Unix(1_000_000, 0)
	d := &DownTrack{}
	for _, c := range []struct {
		age  time.Duration
		rtt  time.Duration
		late bool
	}{
		{age: 100 * time.Millisecond, late: false},
		{age: staleAfter - repairTransit, late: false},
		{age: staleAfter - repairTransit + time.Millisecond, late: true},
		{age: 200 * time.Millisecond, rtt: 150 * time.Millisecond, late: false},
		{age: 300 * time.Millisecond, rtt: 150 * time.Millisecond, late: true},
		{age: 10 * time.Millisecond, rtt: staleAfter, late: true},
	} {
		d.stats.rttMicros.Store(uint64(c.rtt / time.Microsecond))
		if got := d.repairTooLate(arrival, arrival.Add(c.age)); got != c.late {
			t.Errorf("a repair at %v old with a %v RTT: too late %v, want %v", c.age, c.rtt, got, c.late)
		}
	}
}
