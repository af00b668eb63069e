package sfu

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestSRRTPTime(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name     string
		pair     clockPair
		offset   uint32
		rate     uint32
		now      time.Time
		want     uint32
		wantNote string
	}{
		{"at the pair", clockPair{wallNs: t0.UnixNano(), rtp: 1000}, 0, 90000, t0, 1000, ""},
		{"one second later", clockPair{wallNs: t0.UnixNano(), rtp: 1000}, 0, 90000, t0.Add(time.Second), 91000, ""},
		{"offset applied", clockPair{wallNs: t0.UnixNano(), rtp: 1000}, 500, 48000, t0.Add(20 * time.Millisecond), 1000 + 500 + 960, ""},
		{"pair in the future", clockPair{wallNs: t0.Add(time.Second).UnixNano(), rtp: 90000}, 0, 90000, t0, 0, ""},
		{"rtp wraps", clockPair{wallNs: t0.UnixNano(), rtp: 0xffff_ff00}, 0x10, 90000, t0.Add(10 * time.Millisecond), 0xffff_ff00 + 0x10 + 900 - 1<<32, "wraps to a small number"},
		{"offset wraps", clockPair{wallNs: t0.UnixNano(), rtp: 100}, 0xffff_ffff, 48000, t0, 99, ""},
		{"a day after the pair", clockPair{wallNs: t0.UnixNano(), rtp: 7}, 0, 90000, t0.Add(24 * time.Hour), 7 + uint32(uint64(24*3600*90000)%(1<<32)), ""},
		{"sub-tick", clockPair{wallNs: t0.UnixNano(), rtp: 0}, 0, 90000, t0.Add(5 * time.Microsecond), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := srRTPTime(tc.pair, tc.offset, tc.rate, tc.now); got != tc.want {
				t.Errorf("srRTPTime = %d, want %d %s", got, tc.want, tc.wantNote)
			}
		})
	}
}

func TestNTPRoundTrip(t *testing.T) {
	for _, at := range []time.Time{time.Unix(0, 0), time.Unix(1_700_000_000, 123_456_789), time.Unix(2_000_000_000, 999_999_999), time.Unix(2_100_000_000, 5) /* after NTP era 0 ends (2036) */} {
		back := ntpToTime(ntpTime(at))
		if d := back.Sub(at); d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("%v → %v (%v off)", at, back, d)
		}
		if got, want := ntpMiddle(at), uint32(ntpTime(at)>>16); got != want {
			t.Errorf("middle bits %x, want %x", got, want)
		}
	}
}

func TestSrcClockKeepsTheSmallestOffset(t *testing.T) {
	var c srcClock
	ntp := time.Unix(1_700_000_000, 0)
	for _, delay := range []time.Duration{30 * time.Millisecond, 5 * time.Millisecond, 40 * time.Millisecond} {
		c.observe(ntp, ntp.Add(delay))
	}
	if got := time.Duration(c.offset.Load()); got != 5*time.Millisecond {
		t.Fatalf("offset %v, want 5ms (the least delayed report)", got)
	}
}

func TestFallbackPairFollowsTheLeastDelayedPacket(t *testing.T) {
	_, up := benchSlot()
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at   time.Duration // arrival after t0
		ts   uint32
		want uint32 // RTP of the fallback pair afterwards
	}{
		{0, 9000, 9000},
		{40 * time.Millisecond, 9000 + 3000, 9000},                 // 6.7 ms late: kept
		{60 * time.Millisecond, 9000 + 6000, 15000},                // 6.7 ms early: the new pair
		{3 * time.Second, 9000 + 9000, 18000},                      // far late: a new timeline
		{3*time.Second + 34*time.Millisecond, 9000 + 12000, 18000}, // just late: kept
	}
	for i, s := range steps {
		up.noteArrival(t0.Add(s.at).UnixNano(), s.ts)
		up.srMu.Lock()
		got := up.fbPair
		up.srMu.Unlock()
		if !got.ok || got.rtp != s.want {
			t.Errorf("step %d: fallback pair rtp %d (ok %v), want %d", i, got.rtp, got.ok, s.want)
		}
	}
	up.created = t0
	if _, ok := up.sourcePair(t0.Add(fallbackAfter / 2)); ok {
		t.Error("fallback used before fallbackAfter")
	}
	if p, ok := up.sourcePair(t0.Add(fallbackAfter)); !ok || p.rtp != 18000 {
		t.Errorf("fallback pair %+v %v, want rtp 18000", p, ok)
	}
	up.setSourcePair(t0, 1)
	if p, ok := up.sourcePair(t0); !ok || p.rtp != 1 {
		t.Errorf("source pair %+v %v: the source's own pair must win over the fallback", p, ok)
	}
}

// TestDownTrackReportFollowsTheSourceTimeline forwards packets from two sources in turn and
// checks that each report maps the outgoing timestamps to the source pair of the current
// source, through the munger's offset of that moment.
func TestDownTrackReportFollowsTheSourceTimeline(t *testing.T) {
	s, up := benchSlot()
	w := &discardWriter{}
	d := boundDownTrack(s, w)
	if sr := d.senderReport(time.Now()); sr != nil {
		t.Fatal("a report before any packet")
	}
	wall := time.Now()
	up.setSourcePair(wall, 500_000)
	up.ring.Put(1<<16, marshalPacket(1, 500_000, []byte{0x67, 0x42, 0xe0, 0x1f}), wall, true)
	d.drain()
	now := wall.Add(100 * time.Millisecond)
	sr := d.senderReport(now)
	if sr == nil {
		t.Fatal("no report after the first packet")
	}
	checkReport(t, sr, d, 500_000+9000)
	if d.awaitsReport() {
		t.Error("the downtrack still awaits its first report")
	}

	// A new source (a publisher's reconnect): another RTP base, another pair.
	up2 := &UpTrack{kind: "video", codec: up.codec, ring: newPacketRing(videoRingSize), pliInterval: time.Second,
		nackedAt: make([]int64, videoRingSize), log: up.log, publisher: nopRTCP{}, done: make(chan struct{})}
	s.removeLayer(up)
	s.addLayer(up2)
	wall2 := time.Now()
	up2.setSourcePair(wall2.Add(-time.Second), 7) // its clock read 7 a second ago
	if sr := d.senderReport(now.Add(srInterval)); sr == nil {
		t.Fatal("reports stop while the next source has sent nothing")
	} else {
		checkReport(t, sr, d, 500_000+9000+90000) // still the first timeline
	}
	d.drain() // the viewer waits for a keyframe of the new source
	up2.ring.Put(1<<16, marshalPacket(1, 90_007, []byte{0x67, 0x42, 0xe0, 0x1f}), wall2, true)
	d.drain()
	if src, _ := d.fw.timeline(); src != up2 {
		t.Fatal("the downtrack's timeline is not the new source's")
	}
	if !d.awaitsReport() {
		t.Error("a new timeline does not ask for a report at once")
	}
	later := wall2.Add(3 * time.Second)
	sr = d.senderReport(later)
	if sr == nil {
		t.Fatal("no report after the switch")
	}
	checkReport(t, sr, d, 7+4*90000)
}

// checkReport: the report's RTP time is srcRTP (the source's RTP time at the report's NTP
// time) through the downtrack's current offset, and the counts are the downtrack's.
func checkReport(t *testing.T, sr *rtcp.SenderReport, d *DownTrack, srcRTP uint32) {
	t.Helper()
	d.mu.Lock()
	_, tsOffset := d.fw.timeline()
	want := srcRTP + tsOffset
	d.mu.Unlock()
	if diff := int32(sr.RTPTime - want); diff < -1 || diff > 1 {
		t.Errorf("report RTP %d, want %d (%d ticks off)", sr.RTPTime, want, diff)
	}
	if sr.SSRC != d.ssrc || sr.PacketCount != uint32(d.stats.packets.Load()) || sr.OctetCount != uint32(d.stats.octets.Load()) {
		t.Errorf("report %+v: want ssrc %d, %d packets, %d octets", sr, d.ssrc, d.stats.packets.Load(), d.stats.octets.Load())
	}
}

// roundSink counts the report rounds written to it.
type roundSink struct {
	mu     sync.Mutex
	rounds int
	ssrcs  map[uint32]bool
}

func (s *roundSink) WriteRTCP(pkts []rtcp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rounds++
	for _, p := range pkts {
		if sr, ok := p.(*rtcp.SenderReport); ok {
			s.ssrcs[sr.SSRC] = true
		}
	}
	return nil
}

func (s *roundSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rounds
}

// TestRelayReportsComeFourTimesAsOften runs a viewer's and a relay's report loops side by
// side over one downtrack: the relay's rounds come every relaySRInterval (the relaying
// node's clock offset is a minimum over them, so more samples settle it sooner), the
// viewer's every srInterval. Counts are compared, not timed: both loops see the same
// scheduler, and a relay round is due on every tick that a viewer round is.
func TestRelayReportsComeFourTimesAsOften(t *testing.T) {
	s, up := benchSlot()
	d := boundDownTrack(s, &discardWriter{})
	wall := time.Now()
	up.setSourcePair(wall, 1)
	up.ring.Put(1<<16, marshalPacket(1, 1, []byte{0x67, 0x42, 0xe0, 0x1f}), wall, true)
	d.drain()
	if d.senderReport(time.Now()) == nil {
		t.Fatal("no report after the first packet")
	}
	downs := func() []*DownTrack { return []*DownTrack{d} }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	viewer, relay := &roundSink{ssrcs: map[uint32]bool{}}, &roundSink{ssrcs: map[uint32]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() { runSenderReports(ctx, viewer, downs, srInterval, log) })
	wg.Go(func() { runSenderReports(ctx, relay, downs, relaySRInterval, log) })
	for relay.count() < 9 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if relay.count() < 9 {
		t.Fatalf("%d relay report rounds in 30 s", relay.count())
	}
	if v := viewer.count(); v < 1 || v > 5 {
		t.Errorf("%d viewer rounds while the relay had %d; want 1..5 (one a second)", v, relay.count())
	}
	for _, sink := range []*roundSink{viewer, relay} {
		if len(sink.ssrcs) != 1 || !sink.ssrcs[d.ssrc] {
			t.Errorf("reports of SSRCs %v, want only the downtrack's %d", sink.ssrcs, d.ssrc)
		}
	}
}
