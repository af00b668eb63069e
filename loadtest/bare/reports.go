package bare

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"

	"github.com/glint-video/glint/media"
)

// Receiver reports (Options.ReceiverReports): every interval the viewer sends one compound
// SRTCP packet, an RR with a reception report block per media SSRC it has received (RFC
// 3550 §6.4.2) and an SDES with its CNAME (§6.1), encrypted with its own SRTP keys. The
// blocks' LSR and DLSR come from the server's sender reports, which the viewer then
// decrypts (they are dropped unread when reports are off).
//
// Who touches what: the reporter belongs to the goroutine that polls the viewer's socket
// (the set-up poller, then its Group's; connect hands over only after the set-up poller's
// last poll). On that goroutine, one after the other, receiver.rtp counts every RTP packet
// into its SSRC's statistics, receiver.senderReports reads the sender reports, and
// Viewer.pollSocket, after each poll, builds and sends a report when one is due. So the
// statistics need no lock and no goroutine is added; a report is late by at most one poll
// interval (10 ms by default), and its DLSR is measured when it is built. Only sent is
// read from other goroutines.

// Limits of the statistics.
const (
	maxStreams  = 4    // SSRCs reported: video, audio, and room for a new SSRC of either
	maxDropout  = 3000 // RFC 3550 A.1: a forward jump up to this is loss, not a restart
	maxMisorder = 100  // RFC 3550 A.1: a backward jump up to this is reordering
	seqMod      = 1 << 16
	seenWindow  = 64 // sequence numbers below the highest whose receipt is remembered
	defaultRate = 90000
	audioRate   = 48000
)

// streamStats are one SSRC's reception statistics (RFC 3550 A.1, A.3, A.8).
type streamStats struct {
	ssrc      uint32
	clockRate uint32
	haveSeq   bool   // a packet was counted
	baseSeq   uint32 // first sequence number since the (re)start
	maxSeq    uint16 // highest sequence number received
	cycles    uint32 // sequence number wrap-arounds, times 2^16
	badSeq    uint32 // the number that confirms a large jump as a restart; seqMod+1: none
	seen      uint64 // bit i: maxSeq−i was received (duplicates in the window are not counted)
	received  uint32 // packets counted since baseSeq

	expectedPrior, receivedPrior uint32 // at the previous report, for the fraction lost

	firstArrival int64  // Unix ns of the first packet: arrivals count from it (no overflow)
	lastArrival  int64  // Unix ns of the newest packet
	transit      uint32 // arrival (RTP units) − RTP timestamp of the previous packet
	jitter       uint32 // interarrival jitter times 16 (RFC 3550 A.8)

	lastSR    uint32 // middle 32 bits of the newest sender report's NTP time; 0: none yet
	srArrived int64  // Unix ns when that report arrived
}

// start takes a stream's first packet.
func (s *streamStats) start(seq uint16, ts uint32, arrived int64, clockRate uint32) {
	s.clockRate, s.firstArrival, s.haveSeq = clockRate, arrived, true
	s.restart(seq)
	s.received = 1
	s.transit = -ts // the arrival is 0 ticks after firstArrival
	s.lastArrival = arrived
}

// restart begins counting at seq (RFC 3550 A.1 init_seq); the caller counts the packet.
func (s *streamStats) restart(seq uint16) {
	s.baseSeq, s.maxSeq, s.cycles, s.badSeq = uint32(seq), seq, 0, seqMod+1
	s.seen, s.received, s.expectedPrior, s.receivedPrior = 1, 0, 0, 0
}

// add counts a packet after the first, arrived at arrived (Unix ns); false when it is not
// counted: a duplicate, or the first packet after a large jump.
func (s *streamStats) add(seq uint16, ts uint32, arrived int64) bool {
	if !s.addSeq(seq) {
		return false
	}
	s.lastArrival = arrived
	arrival := uint32(rtpTicks(arrived-s.firstArrival, s.clockRate))
	transit := arrival - ts
	d := int64(int32(transit - s.transit))
	s.transit = transit
	s.jitter += uint32(min(abs(d), math.MaxInt32)) - (s.jitter+8)>>4
	return true
}

// addSeq counts a sequence number (RFC 3550 A.1 update_seq, without the probation of a new
// source: the server's streams start when the viewer joins). Duplicates within seenWindow
// of the highest number are not counted, so they cannot make the loss negative.
func (s *streamStats) addSeq(seq uint16) bool {
	delta := seq - s.maxSeq
	switch {
	case delta != 0 && delta < maxDropout: // in order, with a permissible gap
		if seq < s.maxSeq {
			s.cycles += seqMod
		}
		s.maxSeq = seq
		if delta >= seenWindow {
			s.seen = 0
		} else {
			s.seen <<= delta
		}
		s.seen |= 1
	case delta != 0 && delta <= seqMod-maxMisorder: // a large jump
		if uint32(seq) != s.badSeq {
			s.badSeq = uint32(seq + 1) // the next number would confirm a restart
			return false
		}
		s.restart(seq) // two packets in sequence: the sender restarted
	default: // a duplicate, or a late packet
		if back := s.maxSeq - seq; back < seenWindow {
			if s.seen&(1<<back) != 0 {
				return false
			}
			s.seen |= 1 << back
		}
	}
	s.received++
	return true
}

// report returns the stream's reception report at now (Unix ns) and starts the next
// interval of its fraction lost (RFC 3550 A.3).
func (s *streamStats) report(now int64) rtcp.ReceptionReport {
	extMax := s.cycles + uint32(s.maxSeq)
	expected := extMax - s.baseSeq + 1
	lost := min(max(int64(expected)-int64(s.received), -1<<23), 1<<23-1) // 24-bit signed
	expectedInterval := int64(expected - s.expectedPrior)
	lostInterval := expectedInterval - int64(s.received-s.receivedPrior)
	s.expectedPrior, s.receivedPrior = expected, s.received
	var fraction uint8
	if expectedInterval > 0 && lostInterval > 0 {
		fraction = uint8(min(lostInterval<<8/expectedInterval, 255))
	}
	var delay uint32
	if s.lastSR != 0 {
		delay = uint32(max(now-s.srArrived, 0) * 65536 / int64(time.Second))
	}
	return rtcp.ReceptionReport{
		SSRC: s.ssrc, FractionLost: fraction, TotalLost: uint32(lost) & 0xffffff, LastSequenceNumber: extMax,
		Jitter: s.jitter >> 4, LastSenderReport: s.lastSR, Delay: delay,
	}
}

// rtpTicks converts a duration in ns (negative too) to ticks of a clock rate without overflow.
func rtpTicks(ns int64, rate uint32) int64 {
	const second = int64(time.Second)
	return ns/second*int64(rate) + ns%second*int64(rate)/second
}

func abs(d int64) int64 {
	if d < 0 {
		return -d
	}
	return d
}

// reporter keeps the statistics of a viewer's streams and sends its receiver reports; see
// the top of the file for which goroutine runs it.
type reporter struct {
	interval   time.Duration
	clockRates [128]uint32 // by payload type, from the answer (0: by kind)
	ssrc       uint32      // the viewer's own SSRC, the reports' sender
	sdes       []byte      // the SDES packet with the CNAME, marshalled once
	streams    [maxStreams]streamStats
	enc        *srtp.Context // the viewer's SRTCP keys; nil until DTLS is done
	next       int64         // Unix ns when the next report is due; 0: none scheduled yet

	rr                rtcp.ReceiverReport // reused by build
	hdr               rtcp.Header         // reused by the SRTCP calls
	clear, out, plain []byte              // a report before and after encryption; a decrypted SRTCP packet

	sent atomic.Uint64 // reports sent
}

// newReporter makes the reporter of a viewer sending a report every interval; clockRates
// are the answer's, by payload type.
func newReporter(interval time.Duration, clockRates [128]uint32) (*reporter, error) {
	ssrc := rand.Uint32()
	for ssrc == 0 {
		ssrc = rand.Uint32()
	}
	sdes, err := rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: randomString(16)}},
	}}}.Marshal()
	if err != nil {
		return nil, fmt.Errorf("whep: receiver reports: sdes: %w", err)
	}
	return &reporter{
		interval: interval, clockRates: clockRates, ssrc: ssrc, sdes: sdes,
		rr:    rtcp.ReceiverReport{SSRC: ssrc, Reports: make([]rtcp.ReceptionReport, 0, maxStreams)},
		clear: make([]byte, 0, maxPacket), out: make([]byte, 0, maxPacket), plain: make([]byte, 0, maxPacket),
	}, nil
}

// received counts an RTP packet of payload type pt; nothing is allocated.
func (rp *reporter) received(p *Packet, pt uint8) {
	if s := rp.find(p.SSRC); s != nil {
		s.add(p.Seq, p.TS, p.Arrived)
		return
	}
	rate := rp.clockRates[pt]
	if rate == 0 {
		rate = defaultRate
		if p.Kind == Audio {
			rate = audioRate
		}
	}
	s := rp.slot()
	*s = streamStats{ssrc: p.SSRC}
	s.start(p.Seq, p.TS, p.Arrived, rate)
}

// find returns the statistics of ssrc, nil when it has none.
func (rp *reporter) find(ssrc uint32) *streamStats {
	for i := range rp.streams {
		if s := &rp.streams[i]; s.haveSeq && s.ssrc == ssrc {
			return s
		}
	}
	return nil
}

// slot returns an unused stream slot, or the one that received last the longest ago.
func (rp *reporter) slot() *streamStats {
	oldest := &rp.streams[0]
	for i := range rp.streams {
		s := &rp.streams[i]
		if !s.haveSeq {
			return s
		}
		if s.lastArrival < oldest.lastArrival {
			oldest = s
		}
	}
	return oldest
}

// senderReports decrypts an SRTCP packet from the server and keeps, for the streams it
// has statistics of, the NTP time and arrival of each sender report in it. A packet that
// does not decrypt counts as a decryption failure and is otherwise ignored. Nothing is
// allocated, but once per SSRC by the SRTCP context.
func (r *receiver) senderReports(b []byte, arrived int64) {
	rp := r.rep
	plain, err := r.srtp.DecryptRTCP(rp.plain, b, &rp.hdr)
	if err != nil {
		r.decryptFailure.Add(1)
		return
	}
	const srSize = 28 // header, SSRC, NTP time, RTP time, counts
	for pkt, rest, ok := media.NextRTCP(plain); ok; pkt, rest, ok = media.NextRTCP(rest) {
		if pkt[1] == uint8(rtcp.TypeSenderReport) && len(pkt) >= srSize {
			if s := rp.find(binary.BigEndian.Uint32(pkt[4:])); s != nil {
				s.lastSR, s.srArrived = binary.BigEndian.Uint32(pkt[10:]), arrived // NTP bits 16-47
			}
		}
	}
}

// sendIfDue sends a receiver report if one is due at latest, the receive time of the
// newest datagram (so that polling reads no clock): the first one interval after the
// first poll with the keys, then every interval, from latest again when the polls fell a
// whole interval behind. A report the socket does not take is lost, as on a network (a
// socket that fails ends the session through the keep-alive's checks); an error is one of
// building or encrypting the report.
func (rp *reporter) sendIfDue(latest int64, sock *socket) error {
	if rp.enc == nil || latest < rp.next {
		return nil
	}
	interval := int64(rp.interval)
	switch {
	case rp.next == 0:
		rp.next = latest + interval
		return nil
	case latest-rp.next >= interval:
		rp.next = latest + interval
	default:
		rp.next += interval
	}
	pkt, err := rp.build(time.Now().UnixNano())
	if err != nil {
		return err
	}
	_ = sock.write(pkt)
	rp.sent.Add(1)
	return nil
}

// build returns the SRTCP packet of a report at now (Unix ns): an RR with a block per
// stream received, then the SDES. It is valid until the next build.
func (rp *reporter) build(now int64) ([]byte, error) {
	rp.rr.Reports = rp.rr.Reports[:0]
	for i := range rp.streams {
		if s := &rp.streams[i]; s.haveSeq {
			rp.rr.Reports = append(rp.rr.Reports, s.report(now))
		}
	}
	rr, err := rp.rr.Marshal()
	if err != nil {
		return nil, fmt.Errorf("receiver report: %w", err)
	}
	rp.clear = append(append(rp.clear[:0], rr...), rp.sdes...)
	out, err := rp.enc.EncryptRTCP(rp.out, rp.clear, &rp.hdr)
	if err != nil {
		return nil, fmt.Errorf("receiver report: srtcp: %w", err)
	}
	return out, nil
}
