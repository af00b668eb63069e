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
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// DownTrack sends one slot of a room to one viewer. It is a webrtc.TrackLocal with its own
// SSRC, sequence numbers and timestamps; its goroutine pulls packets from the current
// source's ring, so a slow viewer only delays itself (it skips to the next keyframe when
// it falls a ring behind) and the steady state allocates nothing per packet.
type DownTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	slot         *slot
	audio        *slot      // the room's audio, whose bitrate the viewer's budget carries too
	bwe          *viewerBWE // the viewer's bandwidth estimate (nil in tests without one)
	probeCh      chan probe
	log          *slog.Logger
	wakeCh       chan struct{}

	bound         atomic.Bool
	connected     atomic.Bool // DTLS is up: packets written before would be dropped
	writer        webrtc.TrackLocalWriter
	ssrc, rtxSSRC uint32
	pt, rtxPT     uint8
	mimeType      string
	isVideo       bool
	isVP8         bool

	maxRank   atomic.Int32  // viewer's cap (rankAny: none)
	allocRank atomic.Int32  // allocator's decision (rankAny, a rank, or rankPause)
	allocTID  atomic.Int32  // allocator's temporal cap on that layer (tidAll: none)
	estimate  atomic.Uint64 // the viewer's bandwidth estimate in bit/s (0: none yet)

	mu           sync.Mutex // forwarding state, shared with the RTCP goroutine
	pending      *UpTrack   // layer being switched to at its next keyframe
	pendingSince time.Time
	pendingFrom  uint64
	keyAskedAt   time.Time // last keyframe request while waiting for one
	m            munger
	vp8          vp8Munger // VP8 picture numbering, continuous across sources
	vp8Sent      [resendSlots]vp8Numbers
	tidCap       int32  // temporal cap in effect (changes at base-layer pictures)
	dropped      bool   // packets were dropped since the last one sent: hide the gap
	missingRun   uint64 // packets missing from the ring since the last one sent or dropped
	src          *UpTrack
	epochSrc     *UpTrack // the source whose timeline m.tsOffset maps (sender reports)
	reportedSrc  *UpTrack // the epochSrc of the latest sender report
	cursor       uint64
	needKey      bool
	newEpoch     bool
	sameSrc      bool
	buf          [maxPacketSize]byte
	view         media.RTPView
	hdr          rtp.Header

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
		wakeCh: make(chan struct{}, 1), probeCh: make(chan probe, 1), isVideo: s.kind == "video", mimeType: s.codec.MimeType,
		isVP8: strings.EqualFold(s.codec.MimeType, webrtc.MimeTypeVP8),
		m:     munger{clockRate: s.codec.ClockRate}, tidCap: tidAll,
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
	d.hdr = rtp.Header{Version: 2, SSRC: d.ssrc, PayloadType: d.pt}
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
		if d.bound.Load() && d.connected.Load() {
			d.drain()
		}
	}
}

// drain sends everything the current source has that this viewer has not had yet.
func (d *DownTrack) drain() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	d.followSource(d.chooseSource(now), now)
	src := d.src
	if src == nil {
		return
	}
	head := src.ring.Head()
	if head == 0 {
		return
	}
	if d.cursor == 0 {
		d.cursor = head
	}
	if head >= d.cursor+src.ring.Size()-16 { // fell a ring behind: skip to the next keyframe
		d.stats.skips.Add(1)
		d.cursor, d.needKey, d.newEpoch, d.sameSrc = head, d.isVideo, true, true
		src.RequestKeyframe()
	}
	for ; d.cursor <= head; d.cursor++ {
		n, arrival := src.ring.CopyOut(d.cursor, d.buf[:])
		if n == 0 || d.view.ParseRTP(d.buf[:n]) != nil {
			d.missingRun++
			continue // not (yet) received: the viewer will NACK it
		}
		missing := d.missingRun
		d.missingRun = 0
		payload := d.view.Payload(d.buf[:n])
		var desc vp8Descriptor
		hasDesc := false
		if d.isVP8 {
			desc, hasDesc = parseVP8Descriptor(payload)
		}
		if d.needKey {
			if !media.IsKeyframeStart(d.mimeType, payload) {
				if now.Sub(d.keyAskedAt) > keyRepeat {
					d.keyAskedAt = now
					src.RequestKeyframe() // encoders may ignore a request close to another
				}
				continue
			}
			d.needKey = false
		}
		if hasDesc && d.dropTemporal(payload, desc) {
			if !d.dropped && !d.newEpoch {
				d.m.reserve(missing) // missing before the drop: keep their numbers for NACKs
			}
			d.dropped = true
			continue
		}
		now = time.Now()
		switch {
		case d.newEpoch:
			d.m.rebase(d.cursor, d.view.Timestamp, now, d.sameSrc)
			d.epochSrc = src
			d.m.forgetPast() // a new source, or a skip far ahead of what was sent
			d.vp8.rebase()
			d.newEpoch, d.dropped = false, false
		case d.dropped: // the same timeline goes on without the dropped packets' numbers
			d.m.rebase(d.cursor, d.view.Timestamp, now, true)
			d.dropped = false
		}
		d.hdr.SequenceNumber, d.hdr.Timestamp = d.m.apply(d.view.SequenceNumber, d.view.Timestamp, now)
		d.hdr.Marker = d.view.Marker
		if hasDesc { // d.buf is this viewer's copy, never the ring
			sent := d.vp8.rewriteParsed(payload, desc)
			sent.seq = d.hdr.SequenceNumber
			d.vp8Sent[sent.seq%resendSlots] = sent
		}
		if _, err := d.writer.WriteRTP(&d.hdr, payload); err != nil {
			d.stats.writeErrors.Add(1)
			continue
		}
		d.stats.packets.Add(1)
		d.stats.bytes.Add(uint64(n))
		d.stats.octets.Add(uint64(len(payload)))
		d.stats.transit.observe(time.Since(arrival))
	}
}

// keyRepeat is how often a viewer waiting for a keyframe asks again.
const keyRepeat = time.Second

// switchSource moves the viewer to a new uptrack (or none): video waits for a keyframe of
// the new source, which is asked for at once.
func (d *DownTrack) switchSource(src *UpTrack) {
	d.src, d.cursor, d.newEpoch, d.sameSrc = src, 0, true, false
	d.needKey = d.isVideo
	if src != nil {
		d.keyAskedAt = time.Now()
		src.RequestKeyframe()
		d.log.Debug("downtrack source", "ssrc", src.ssrc, "rid", src.rid)
	}
}

// source returns the uptrack the viewer is on now.
func (d *DownTrack) source() *UpTrack {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.src
}
