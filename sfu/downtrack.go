package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// DownTrack sends one slot of a room to one viewer. It is a webrtc.TrackLocal with its own
// SSRC, sequence numbers and timestamps. It pulls packets from the current source's ring
// — in the slot's fan-out walk when the SFU sends them itself (sfu/fanout.go), else in its
// own goroutine, so a viewer whose writes block only delays itself — skips to the next
// keyframe when it falls a ring behind, and allocates nothing per packet.
type DownTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	slot         *slot
	audio        *slot      // the room's audio, whose bitrate the viewer's budget carries too
	bwe          *viewerBWE // the viewer's bandwidth estimate (nil in tests without one)
	probeCh      chan probe
	log          *slog.Logger
	wakeCh       chan struct{}
	paceTimer    *time.Timer // wakes the write loop when the pacer lets the next packet go
	pacedAt      time.Time   // when the pacer last held the viewer back (skipIfStale)
	heldSince    time.Time   // since when the pacer holds back the packets not yet sent; zero: it holds none

	bound         atomic.Bool
	connected     atomic.Bool // DTLS is up: packets written before would be dropped
	writer        webrtc.TrackLocalWriter
	egress        *egress // the connection's own egress (nil: pion's writer only; sfu/egress.go)
	twccID        uint8   // the transport-wide sequence extension's id (0: not negotiated)
	ssrc, rtxSSRC uint32
	pt, rtxPT     uint8
	isVideo       bool
	pinned        bool // a relay's track: always the layer pinRID, no layer choice
	pinRID        string

	maxRank   atomic.Int32  // viewer's cap (rankAny: none)
	allocRank atomic.Int32  // allocator's decision (rankAny, a rank, or rankPause)
	allocTID  atomic.Int32  // allocator's temporal cap on that layer (tidAll: none)
	estimate  atomic.Uint64 // the viewer's bandwidth estimate in bit/s (0: none yet)

	mu   sync.Mutex // guards fw and the send buffer; shared with the RTCP goroutine
	fw   forwarder
	buf  [maxPacketSize]byte // the packet being sent: this viewer's copy, never the ring
	view media.RTPView
	hdr  rtp.Header
	// lat writes the latency header extensions (sfu/latency.go); zeroPlayout: the room is
	// a fastest one (playout-delay 0/0 where negotiated).
	lat         latencyStamps
	zeroPlayout bool

	rtxMu  sync.Mutex
	resent [resendSlots]resendMark
	rtxBuf [maxPacketSize + 2]byte
	rtxHdr rtp.Header
	rtxSeq uint16

	stats downStats
}

func newDownTrack(id, streamID string, s *slot, log *slog.Logger) *DownTrack {
	kind := webrtc.RTPCodecTypeAudio
	if s.kind == "video" {
		kind = webrtc.RTPCodecTypeVideo
	}
	d := &DownTrack{
		id: id, streamID: streamID, kind: kind, slot: s, log: log,
		wakeCh: make(chan struct{}, 1), probeCh: make(chan probe, 1), isVideo: s.kind == "video",
		fw: newForwarder(s.codec, s.kind == "video"),
	}
	d.allocTID.Store(tidAll)
	return d
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal.
func (d *DownTrack) ID() string                            { return d.id }
func (d *DownTrack) RID() string                           { return "" }
func (d *DownTrack) StreamID() string                      { return d.streamID }
func (d *DownTrack) Kind() webrtc.RTPCodecType             { return d.kind }
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error { d.bound.Store(false); return nil }

// Bind implements webrtc.TrackLocal: it picks the negotiated payload types (and RTX).
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var chosen *webrtc.RTPCodecParameters
	codecs := ctx.CodecParameters()
	for i, c := range codecs {
		if strings.EqualFold(c.MimeType, d.slot.codec.MimeType) {
			chosen = &codecs[i]
			break
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("downtrack %s: %s not negotiated", d.id, d.slot.codec.MimeType)
	}
	d.writer, d.ssrc, d.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(chosen.PayloadType)
	if rtx := ctx.SSRCRetransmission(); rtx != 0 {
		apt := fmt.Sprintf("apt=%d", chosen.PayloadType)
		for _, c := range codecs {
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && strings.Contains(c.SDPFmtpLine, apt) {
				d.rtxSSRC, d.rtxPT = uint32(rtx), uint8(c.PayloadType)
			}
		}
	}
	if d.bwe != nil && d.rtxSSRC != 0 {
		d.bwe.pacer.alias(d.rtxSSRC, d.ssrc)
	}
	exts := ctx.HeaderExtensions()
	d.twccID = 0
	for _, e := range exts {
		if e.URI == sdp.TransportCCURI {
			d.twccID = uint8(e.ID)
		}
	}
	d.hdr = rtp.Header{Version: 2, SSRC: d.ssrc, PayloadType: d.pt}
	d.lat.bind(exts, d.zeroPlayout && d.isVideo, &d.hdr)
	d.rtxHdr = rtp.Header{Version: 2, SSRC: d.rtxSSRC, PayloadType: d.rtxPT}
	d.bound.Store(true)
	d.wake()
	return *chosen, nil
}

// start lets forwarding begin once the viewer's transport is up; the first packet it gets
// is then a fresh keyframe rather than one dropped before SRTP was ready.
func (d *DownTrack) start() {
	d.connected.Store(true)
	d.wake()
}

// wake tells the forwarding goroutine that packets may be waiting; it never blocks.
func (d *DownTrack) wake() {
	select {
	case d.wakeCh <- struct{}{}:
	default:
	}
}

// run forwards packets until ctx ends.
func (d *DownTrack) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wakeCh:
		}
		d.drainIfLive()
	}
}

// fanoutDrain is the slot's fan-out walk's turn for this viewer (sfu/fanout.go): it drains
// here when the SFU sends the viewer's packets itself (writes that only queue), and wakes
// the track's own goroutine otherwise (pion's write chain may block: on ICE-TCP, on a
// full socket).
func (d *DownTrack) fanoutDrain() {
	if d.ownEgress() {
		d.drainIfLive()
		return
	}
	d.wake()
}

// drainIfLive drains once the track is bound and the viewer's transport is up: from its
// own goroutine, or from the slot's fan-out walk (sfu/fanout.go).
func (d *DownTrack) drainIfLive() {
	if d.bound.Load() && d.connected.Load() {
		d.drain()
	}
}

// drain sends everything the current source has that this viewer has not had yet, as the
// forwarder decides.
func (d *DownTrack) drain() {
	d.mu.Lock()
	defer d.mu.Unlock()
	// One clock reading for the whole batch (a clock read costs as much as a quarter of a
	// packet's forwarding on some VMs); the batch goes out within microseconds. A packet
	// that arrived after it counts a transit of 0.
	now := time.Now()
	src := d.followSource(d.chooseSource(now), now)
	if src == nil {
		return
	}
	head := src.ring.Head()
	if head == 0 {
		return
	}
	fw := &d.fw
	if fw.catchUp(head, src.ring.Size()) {
		d.stats.skips.Add(1)
		src.RequestKeyframe()
	}
	if fw.isVP8 {
		fw.setAllocation(d.allocRank.Load(), d.allocTID.Load())
	}
	for ; fw.cursor <= head; fw.cursor++ {
		n, arrival := src.ring.CopyOut(fw.cursor, d.buf[:])
		if n == 0 || d.view.ParseRTP(d.buf[:n]) != nil {
			fw.missing() // not (yet) received: the viewer will NACK it
			continue
		}
		if d.skipIfStale(src, head, arrival, now) || d.paceHolds(now) {
			return
		}
		payload := d.view.Payload(d.buf[:n])
		dec := fw.packet(srcPacket{ext: fw.cursor, seq: d.view.SequenceNumber, ts: d.view.Timestamp, payload: payload}, now)
		switch dec.verdict {
		case verdictKeyWait:
			if dec.askKey {
				src.RequestKeyframe()
			}
		case verdictTemporalDrop:
			d.stats.temporalDrops.Add(1)
		case verdictSend:
			d.lat.stamp(&d.hdr, src, d.view.Timestamp, now)
			d.send(dec, payload, n, arrival, now, fw.catchingUp())
		}
	}
	d.heldSince = time.Time{} // all sent: nothing is held back

	if fw.caughtUp() {
		d.log.Debug("viewer caught up from the cached keyframe", "behind_ms", fw.joinLag.Milliseconds(),
			"took_ms", time.Since(fw.joinedAt).Milliseconds())
	}
}

// send writes one packet the forwarder let through, with its outgoing numbers; it arrived
// at the SFU at arrival, and now is the drain's clock reading. Its transit (time in the SFU)
// ends when the batched sender hands it to the kernel, where the SFU sends it itself (own
// egress); on pion's write chain, when the write returns (then). A packet sent to catch up
// from a cached keyframe (cached) is left out of the transit times.
func (d *DownTrack) send(dec decision, payload []byte, size int, arrival, now time.Time, cached bool) {
	d.hdr.SequenceNumber, d.hdr.Timestamp, d.hdr.Marker = dec.seq, dec.ts, d.view.Marker
	var stamp sendStamp
	held := d.pacerHeld(arrival, now)
	if !cached {
		stamp = sendStamp{hist: &d.stats.transit, arrived: arrival, held: held}
	}
	own, err := d.write(&d.hdr, payload, stamp)
	if err != nil {
		d.stats.writeErrors.Add(1)
		return
	}
	d.paced(size)
	d.stats.packets.Add(1)
	d.stats.bytes.Add(uint64(size))
	d.stats.octets.Add(uint64(len(payload)))
	if !own && !cached {
		d.stats.transit.observe(now.Sub(arrival), held)
	}
}

// write sends one packet, media or repair: through the connection's own egress once it
// runs (own; its batched sender counts the transit as stamp says), else through pion's
// track writer.
func (d *DownTrack) write(h *rtp.Header, payload []byte, stamp sendStamp) (own bool, err error) {
	if d.ownEgress() {
		return true, d.egress.writeRTP(h, payload, d.twccID, stamp)
	}
	_, err = d.writer.WriteRTP(h, payload)
	return false, err
}

// ownEgress reports whether the SFU sends this track's packets itself (sfu/egress.go).
func (d *DownTrack) ownEgress() bool { return d.egress != nil && d.egress.running() }

// followSource moves the viewer towards want (see forwarder.follow) and returns the source
// it is on now.
func (d *DownTrack) followSource(want *UpTrack, now time.Time) *UpTrack {
	from := d.fw.src
	ask, change := d.fw.follow(want, now)
	if ask != nil {
		ask.RequestKeyframe()
	}
	switch {
	case change == sourceSwitched && want != nil:
		d.log.Debug("downtrack source", "ssrc", want.ssrc, "rid", want.rid)
	case change == layerSwitched:
		d.stats.switches.Add(1)
		d.log.Debug("layer switch", "from", from.rid, "to", want.rid)
	case change == joinedFromCache:
		d.stats.joinsFromCache.Add(1)
		d.log.Debug("viewer starts at the cached keyframe", "rid", want.rid, "behind_ms", d.fw.joinLag.Milliseconds(),
			"packets", d.fw.joinLive-d.fw.cursor+1)
	case change == joinedAskingKey:
		d.stats.joinsAskingKey.Add(1)
		d.log.Debug("viewer waits for a requested keyframe", "rid", want.rid, "cached_behind_ms", d.fw.joinLag.Milliseconds())
	}
	return d.fw.src
}

// source returns the uptrack the viewer is on now.
func (d *DownTrack) source() *UpTrack {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fw.src
}
