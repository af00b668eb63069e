package sfu

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// rtcpLoop reads the viewer's RTCP for this track until the sender closes: keyframe
// requests go to the source (throttled there), NACKs are answered from the ring, and
// receiver reports update loss and RTT.
func (d *DownTrack) rtcpLoop(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.stats.plisIn.Add(1)
				if src := d.source(); src != nil {
					src.RequestKeyframe()
				}
			case *rtcp.TransportLayerNack:
				d.handleNack(p)
			case *rtcp.ReceiverReport:
				d.handleReport(p.Reports)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				if d.bwe != nil {
					d.bwe.onREMB(p.Bitrate)
				}
			}
		}
	}
}

func (d *DownTrack) handleReport(reports []rtcp.ReceptionReport) {
	for _, r := range reports {
		if r.SSRC != d.ssrc {
			continue
		}
		d.stats.lossFraction.Store(uint32(r.FractionLost))
		if d.isVideo && d.bwe != nil && r.LastSequenceNumber != 0 { // 0: the receiver counts nothing of this stream
			d.bwe.onLossReport(lossSample{fractionLost: r.FractionLost, packets: d.stats.packets.Load(),
				nacked: d.stats.nackedFirst.Load()}, time.Now())
		}
		d.stats.jitter.Store(r.Jitter)
		if r.LastSenderReport != 0 {
			now := ntpMiddle(time.Now())
			if rtt := now - r.LastSenderReport - r.Delay; rtt < 65536*10 {
				d.stats.rttMicros.Store(uint64(rtt) * 1_000_000 / 65536)
			}
		}
	}
}

// ntpMiddle returns the middle 32 bits of the NTP timestamp of t (RFC 3550 LSR units).
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1_000_000_000
	return uint32((secs<<32 | frac) >> 16)
}

// handleNack retransmits what the ring still holds (on the RTX stream when negotiated) and
// asks the publisher only for what it lacks.
func (d *DownTrack) handleNack(n *rtcp.TransportLayerNack) {
	var missing []uint16
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			d.stats.nacksIn.Add(1)
			if lacked, ok := d.retransmit(seq); !ok && lacked != nil {
				missing = append(missing, *lacked)
			}
		}
	}
	if len(missing) > 0 {
		if src := d.source(); src != nil {
			d.stats.upstreamNacks.Add(uint64(len(missing)))
			src.NackUpstream(missing)
		}
	}
}

// retransmit resends outSeq for a NACK. It returns ok, or the source sequence number the
// ring lacks (nil when the number is not one this viewer can be given at all).
func (d *DownTrack) retransmit(outSeq uint16) (lacked *uint16, ok bool) {
	if !d.resendAllowed(outSeq, time.Now()) {
		return nil, false
	}
	n, lack, inEpoch := d.resend(outSeq)
	if !inEpoch {
		return nil, false
	}
	if n == 0 {
		return &lack, false
	}
	d.stats.retransmits.Add(1)
	return nil, true
}

// Retransmission limits per packet: a receiver that keeps NACKing (one that does not see
// RTX repairs, or a NACK storm) gets each packet at most maxResends times, and not twice
// within minResendGap.
const (
	maxResends   = 4
	minResendGap = 40 * time.Millisecond
	resendSlots  = 1024
)

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
	if m.count >= maxResends || now.UnixNano()-m.at < int64(minResendGap) {
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
	n, _, _ := d.resend(seq)
	return n
}

// resend writes outSeq again, on the RTX stream when negotiated. It returns the payload
// bytes written (0 if the ring lacks the packet, whose source number is then lacked), and
// whether outSeq belongs to the current epoch at all.
func (d *DownTrack) resend(outSeq uint16) (n int, lacked uint16, inEpoch bool) {
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
	if d.isVideo && time.Since(arrival) > staleAfter {
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
	if _, err := d.writer.WriteRTP(hdr, payload); err != nil {
		return 0, 0, true
	}
	d.countResent(size)
	return len(payload), 0, true
}
