package sfu

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// Sender reports. A viewer's browser synchronises audio and video through each track's RTCP
// sender reports (NTP ↔ RTP pairs), so the SFU sends its own for every downtrack from the
// source's timing: the publisher's sender reports (WHIP) or the local publisher's shared A/V
// clock (ingest), mapped through the munger's timestamp offset. Until a source has given a
// pair, one from its packets' arrival stands in (after fallbackAfter, so that a source's
// first report, sent with its first packets, wins the race).

const (
	srInterval = time.Second            // between two rounds of a viewer's reports
	srTick     = 250 * time.Millisecond // how often a round is considered
	// relaySRInterval is between two rounds of a relay subscriber's reports: they are the
	// relaying node's only samples of this node's clock (its srcClock, the least-delayed
	// receipt − NTP), and a round's RTCP waits behind the CPU on a loaded node, so four a
	// second let its estimate, and so the capture times of every node below, settle in a
	// quarter of the time. A handful of relays per room make the cost negligible.
	relaySRInterval = srTick
	fallbackAfter   = time.Second        // a source without reports gets arrival-based ones after this
	fallbackJump    = int64(time.Second) // an arrival this far off the fallback pair moves it
	ntpEpochDelta   = 2208988800         // seconds from 1900 (NTP) to 1970 (Unix)
)

// clockPair is one NTP ↔ RTP pair of a source: wallNs (unix nanos) is the moment at which
// the source's RTP clock read rtp.
type clockPair struct {
	wallNs int64
	rtp    uint32
	ok     bool
}

// srcClock maps one publisher's NTP clock onto the SFU's: the smallest (receipt − NTP) over
// the reports of all its tracks, so that audio and video share one offset and keep exactly
// the publisher's alignment (network delay and jitter do not enter the relation).
type srcClock struct {
	offset atomic.Int64 // nanoseconds
	set    atomic.Bool
}

func (c *srcClock) observe(ntpWall, received time.Time) {
	off := received.UnixNano() - ntpWall.UnixNano()
	if c.set.CompareAndSwap(false, true) {
		c.offset.Store(off)
		return
	}
	for {
		cur := c.offset.Load()
		if off >= cur || c.offset.CompareAndSwap(cur, off) {
			return
		}
	}
}

// setSourcePair stores the source's own pair (wall on the source's clock when the uptrack
// has a srcClock, on the SFU's otherwise). It changes about once a second.
func (u *UpTrack) setSourcePair(wall time.Time, rtpTS uint32) {
	u.srMu.Lock()
	u.srcPair = clockPair{wallNs: wall.UnixNano(), rtp: rtpTS, ok: true}
	u.srMu.Unlock()
}

// noteArrival keeps the fallback pair: the earliest-arriving packet relative to its RTP time
// (the least delayed), moved when arrivals leave it by more than fallbackJump (a new
// timeline). Only the push goroutine calls it; it locks only when the pair changes.
func (u *UpTrack) noteArrival(nowNs int64, ts uint32) {
	fb := &u.fbPriv
	if fb.ok && u.codec.ClockRate > 0 {
		predicted := fb.wallNs + int64(int32(ts-fb.rtp))*int64(time.Second)/int64(u.codec.ClockRate)
		if late := nowNs - predicted; late >= 0 && late <= fallbackJump {
			return
		}
	}
	*fb = clockPair{wallNs: nowNs, rtp: ts, ok: true}
	u.srMu.Lock()
	u.fbPair = *fb
	u.srMu.Unlock()
}

// sourcePair returns the pair the downtracks' reports are made from, on the SFU's clock.
func (u *UpTrack) sourcePair(now time.Time) (clockPair, bool) {
	u.srMu.Lock()
	sp, fb := u.srcPair, u.fbPair
	u.srMu.Unlock()
	if sp.ok {
		if u.clock != nil {
			sp.wallNs += u.clock.offset.Load()
		}
		return sp, true
	}
	if fb.ok && now.Sub(u.created) >= fallbackAfter {
		return fb, true
	}
	return clockPair{}, false
}

// onSenderReport takes a publisher's sender report for this track, received at received.
func (u *UpTrack) onSenderReport(sr *rtcp.SenderReport, received time.Time) {
	if sr.SSRC != u.ssrc {
		return
	}
	wall := ntpToTime(sr.NTPTime)
	if u.clock != nil {
		u.clock.observe(wall, received)
	}
	u.setSourcePair(wall, sr.RTPTime)
}

// ticksIn converts a duration (negative too) to ticks of a clock rate without overflow.
func ticksIn(d time.Duration, rate uint32) int64 {
	return int64(d/time.Second)*int64(rate) + int64(d%time.Second)*int64(rate)/int64(time.Second)
}

// srRTPTime is the outgoing RTP time at now: the source pair's RTP time through the munger's
// timestamp offset, advanced by the time since the pair at the clock rate (modulo 2^32).
func srRTPTime(pair clockPair, tsOffset, clockRate uint32, now time.Time) uint32 {
	return pair.rtp + tsOffset + uint32(ticksIn(time.Duration(now.UnixNano()-pair.wallNs), clockRate))
}

// ntpTime is the 64-bit NTP timestamp of t.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochDelta
	frac := uint64(t.Nanosecond()) << 32 / 1_000_000_000
	return secs<<32 | frac
}

// ntpToTime converts a 64-bit NTP timestamp to a time. Seconds with the top bit clear are
// taken to be in NTP era 1 (from 2036; RFC 4330 §3), so times from 1968 to 2104 map right.
func ntpToTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - ntpEpochDelta
	if ntp>>63 == 0 {
		secs += 1 << 32
	}
	nanos := int64((ntp & 0xffffffff) * 1_000_000_000 >> 32)
	return time.Unix(secs, nanos)
}

// awaitsReport says whether the downtrack has sent packets of a timeline (a source) that no
// report has described yet.
func (d *DownTrack) awaitsReport() bool {
	if !d.bound.Load() || d.stats.packets.Load() == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fw.awaitsReport()
}

// senderReport returns the downtrack's report at now, or nil before its first packet or
// while the source of its current timeline has no pair.
func (d *DownTrack) senderReport(now time.Time) *rtcp.SenderReport {
	if !d.bound.Load() || d.stats.packets.Load() == 0 {
		return nil
	}
	d.mu.Lock()
	src, tsOffset := d.fw.timeline()
	d.mu.Unlock()
	if src == nil {
		return nil
	}
	pair, ok := src.sourcePair(now)
	if !ok {
		return nil
	}
	d.mu.Lock()
	unchanged := d.fw.markReported(src, tsOffset)
	d.mu.Unlock()
	if !unchanged {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC: d.ssrc, NTPTime: ntpTime(now), RTPTime: srRTPTime(pair, tsOffset, d.fw.m.clockRate, now),
		PacketCount: uint32(d.stats.packets.Load()), OctetCount: uint32(d.stats.octets.Load()),
	}
}

// rtcpSink is where a viewer's reports go (its PeerConnection).
type rtcpSink interface {
	WriteRTCP(pkts []rtcp.Packet) error
}

// runSenderReports sends the reports of a session's downtracks until ctx ends: all of them
// together (audio and video from the same moment's source pairs), every interval (srInterval
// for a viewer, relaySRInterval for a relay: every tick), and soon after a downtrack's first
// packets.
func runSenderReports(ctx context.Context, pc rtcpSink, downs func() []*DownTrack, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(srTick)
	defer t.Stop()
	var pkts []rtcp.Packet
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			all := downs()
			due := interval <= srTick || now.Sub(last) >= interval
			for _, d := range all {
				due = due || d.awaitsReport()
			}
			if !due {
				continue
			}
			last = now
			pkts = pkts[:0]
			for _, d := range all {
				if sr := d.senderReport(now); sr != nil {
					pkts = append(pkts, sr)
				}
			}
			if len(pkts) == 0 {
				continue
			}
			if err := pc.WriteRTCP(pkts); err != nil {
				log.Debug("send sender reports", "err", err)
			}
		}
	}
}
