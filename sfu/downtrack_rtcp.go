package sfu

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// rtcpLoop reads the viewer's RTCP for this track until the sender closes: keyframe
// requests go to the source (throttled there), NACKs are answered from the ring, and
// receiver reports update loss and RTT. Packets are read into one buffer and walked in
// place (rtcpview.go): nothing is allocated per packet. A packet the interceptors cannot
// parse (pion's GCC unmarshals each one) is an error of that packet only: the loop goes on,
// unless reads keep failing.
func (d *DownTrack) rtcpLoop(sender *webrtc.RTPSender) {
	fb := &feedbackReader{d: d}
	buf := make([]byte, maxPacketSize)
	failed := 0
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) ||
				failed >= maxRTCPReadErrors {
				return
			}
			failed++
			d.log.Debug("viewer rtcp: packet dropped", "err", err)
			continue
		}
		failed = 0
		fb.now = time.Now()
		walkRTCP(buf[:n], fb)
		fb.flushNacks()
	}
}

// maxRTCPReadErrors is how many reads in a row may fail before rtcpLoop gives up on the
// viewer's RTCP (a broken stream, not a bad packet).
const maxRTCPReadErrors = 100

// feedbackReader applies what the viewer's RTCP says to its downtrack (rtcpLoop's goroutine
// only). Feedback about another SSRC is left to that SSRC's downtrack (pion's SRTCP session
// hands a packet to every stream it names, and a report to all of them).
type feedbackReader struct {
	d       *DownTrack
	now     time.Time
	missing []uint16 // NACKed packets the ring lacks, asked upstream at the packet's end
}

func (f *feedbackReader) onKeyframeRequest(mediaSSRC uint32) {
	d := f.d
	if mediaSSRC != d.ssrc {
		return
	}
	d.stats.plisIn.Add(1)
	if src := d.source(); src != nil {
		src.RequestKeyframe()
	}
}

func (f *feedbackReader) onREMB(bitrate float32) {
	if f.d.bwe != nil {
		f.d.bwe.onREMB(bitrate)
	}
}

func (f *feedbackReader) onReport(r reportBlock) {
	d := f.d
	if r.ssrc != d.ssrc {
		return
	}
	d.stats.reports.Add(1)
	d.stats.lossFraction.Store(uint32(r.fractionLost))
	if d.isVideo && d.bwe != nil && r.lastSeq != 0 { // 0: the receiver counts nothing of this stream
		d.bwe.onLossReport(lossSample{fractionLost: r.fractionLost, packets: d.stats.packets.Load(),
			nacked: d.stats.nackedFirst.Load()}, f.now)
	}
	d.stats.jitter.Store(r.jitter)
	if r.lastSR != 0 {
		if rtt := ntpMiddle(f.now) - r.lastSR - r.delaySSR; rtt < 65536*10 {
			d.stats.rttMicros.Store(uint64(rtt) * 1_000_000 / 65536)
		}
	}
}

// onNack retransmits what the ring still holds (on the RTX stream when negotiated) and
// collects what it lacks for flushNacks.
func (f *feedbackReader) onNack(mediaSSRC uint32, fci []byte) {
	d := f.d
	if mediaSSRC != d.ssrc {
		return
	}
	forEachNacked(fci, func(seq uint16) {
		d.stats.nacksIn.Add(1)
		if lacked, lacks := d.retransmit(seq, f.now); lacks {
			f.missing = append(f.missing, lacked)
		}
	})
}

// flushNacks asks the publisher for the packets the ring lacked.
func (f *feedbackReader) flushNacks() {
	if len(f.missing) == 0 {
		return
	}
	if src := f.d.source(); src != nil {
		f.d.stats.upstreamNacks.Add(uint64(len(f.missing)))
		src.NackUpstream(f.missing)
	}
	f.missing = f.missing[:0]
}

// rtt returns the viewer's round-trip time as its receiver reports last measured it (0
// before the first).
func (d *DownTrack) rtt() time.Duration {
	return time.Duration(d.stats.rttMicros.Load()) * time.Microsecond
}

// ntpMiddle returns the middle 32 bits of the NTP timestamp of t (RFC 3550 LSR units).
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1_000_000_000
	return uint32((secs<<32 | frac) >> 16)
}

// retransmit resends outSeq for a NACK that came at now (one clock reading per RTCP packet,
// not per packet NACKed). lacks: the ring lacks the packet, whose source sequence number is
// lacked (not when the number is not one this viewer can be given at all). Nothing is
// allocated.
func (d *DownTrack) retransmit(outSeq uint16, now time.Time) (lacked uint16, lacks bool) {
	if !d.resendAllowed(outSeq, now) {
		return 0, false
	}
	n, lacked, inEpoch := d.resend(outSeq, now)
	if !inEpoch {
		return 0, false
	}
	if n == 0 {
		return lacked, true
	}
	d.stats.retransmits.Add(1)
	return 0, false
}

// Retransmission limits per packet: a receiver that keeps NACKing (one that does not see
// RTX repairs, or a NACK storm) gets each packet at most maxResends times, and again only once
// the previous repair had time to arrive and its absence to be reported, waiting twice as long
// before each further repair: minResendGap (or the viewer's round-trip time when that is
// longer) before the second, twice that before the third. pion's NACK generator, for one,
// NACKs every missing packet again at each of its 100 ms ticks and does not count a repair
// that came on RTX (its NACKs for such a packet go on for seconds after the repair arrived):
// answering each of those NACKs sent every lost packet four times within 300 ms,
// and on a path with little headroom (after a probe filled its queue) the repeats overran it
// and were lost in turn, so a frame took its fourth repair, 400 ms late, to complete. With
// the back-off and repairTooLate, such a receiver gets a lost packet twice, 100 ms apart: the
// second repair still comes in time where random loss took the first.
const (
	maxResends   = 4
	minResendGap = 80 * time.Millisecond
	resendSlots  = 1024
)

// A repair must reach the viewer before its packet is staleAfter old (since it reached the
// SFU): a later one completes a frame the viewer should have shown long ago, and takes path
// capacity from fresh video. Its way there is the viewer's round-trip time (the queue that
// delays it is on the way to the viewer), and at least repairTransit: a bottleneck's queue
// (tc's usual 50 ms, more on a radio link), which is also all there is to go by before a
// receiver report has measured a round trip. The viewer's receiver gives up on the frame and
// asks for a keyframe.
const repairTransit = 100 * time.Millisecond

// repairTooLate reports whether a repair of a packet that reached the SFU at arrival, sent
// now, would reach the viewer too late to be shown.
func (d *DownTrack) repairTooLate(arrival, now time.Time) bool {
	return now.Sub(arrival)+max(d.rtt(), repairTransit) > staleAfter
}

type resendMark struct {
	seq   uint16
	count uint8
	at    int64
}

// resendAllowed records a retransmission of outSeq if the limits allow one.
func (d *DownTrack) resendAllowed(outSeq uint16, now time.Time) bool {
	d.rtxMu.Lock()
	defer d.rtxMu.Unlock()
	m := &d.resent[outSeq%resendSlots]
	if m.seq != outSeq || m.count == 0 {
		*m = resendMark{seq: outSeq, count: 1, at: now.UnixNano()}
		d.stats.nackedFirst.Add(1)
		return true
	}
	gap := max(minResendGap, d.rtt()) << (m.count - 1)
	if m.count >= maxResends || now.UnixNano()-m.at < int64(gap) {
		d.stats.resendsRefused.Add(1)
		return false
	}
	m.count++
	m.at = now.UnixNano()
	return true
}

// resendRecent resends the packet sent back packets ago (a bandwidth probe); it returns
// the bytes sent, 0 when there is no such packet.
func (d *DownTrack) resendRecent(back uint16) int {
	d.mu.Lock()
	seq, ok := d.fw.recentSeq(back)
	d.mu.Unlock()
	if !ok {
		return 0
	}
	n, _, _ := d.resend(seq, time.Now())
	return n
}

// resend writes outSeq again, on the RTX stream when negotiated; now is the caller's clock
// reading, against which the packet's age is judged. It returns the payload bytes written
// (0 if the ring lacks the packet, whose source number is then lacked), and inEpoch: false
// when there is nothing to ask the source for (outSeq is not of the current epoch, the repair
// would come too late, or it could not be written).
func (d *DownTrack) resend(outSeq uint16, now time.Time) (n int, lacked uint16, inEpoch bool) {
	d.mu.Lock()
	plan, inEpoch := d.fw.resendPlan(outSeq)
	d.mu.Unlock()
	if !inEpoch {
		return 0, 0, false
	}
	d.rtxMu.Lock()
	defer d.rtxMu.Unlock()
	buf := d.rtxBuf[2:]
	size, arrival := plan.src.ring.CopyOut(plan.srcExt, buf)
	var view media.RTPView
	if size == 0 || view.ParseRTP(buf[:size]) != nil {
		return 0, uint16(plan.srcExt), true
	}
	if d.isVideo && d.repairTooLate(arrival, now) {
		return 0, 0, false // too late to be shown: the viewer gets the next keyframe instead
	}
	hdr := &d.rtxHdr
	hdr.Marker, hdr.Timestamp = view.Marker, view.Timestamp+plan.tsOffset
	payload := view.Payload(buf[:size])
	if d.fw.isVP8 && !plan.rewriteVP8(payload, outSeq) {
		return 0, 0, false
	}
	if d.rtxSSRC != 0 {
		// RFC 4588: the original sequence number precedes the original payload.
		start := view.PayloadStart
		binary.BigEndian.PutUint16(d.rtxBuf[start:], outSeq)
		payload = d.rtxBuf[start : 2+view.PayloadEnd]
		hdr.SSRC, hdr.PayloadType, hdr.SequenceNumber = d.rtxSSRC, d.rtxPT, d.rtxSeq
		d.rtxSeq++
	} else {
		hdr.SSRC, hdr.PayloadType, hdr.SequenceNumber = d.ssrc, d.pt, outSeq
	}
	if _, err := d.write(hdr, payload, sendStamp{}); err != nil {
		return 0, 0, false // not sent, but not lacked either: nothing to ask the source for
	}
	d.countResent(size)
	return len(payload), 0, true
}
