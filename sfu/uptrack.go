package sfu

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// Ring sizes: ~4 s of a 2.5 Mbit/s video stream, ~5 s of 20 ms audio frames.
const (
	videoRingSize = 1024
	audioRingSize = 256
)

// rtcpWriter sends RTCP to the publisher (its PeerConnection).
type rtcpWriter interface {
	WriteRTCP(pkts []rtcp.Packet) error
}

// UpTrack is one received track (one simulcast layer) of a publisher. A dedicated goroutine
// reads it into the packet ring and wakes the downtracks; it never waits for them.
type UpTrack struct {
	kind      string
	rid       string
	codec     webrtc.RTPCodecParameters
	ssrc      uint32
	ring      *packetRing
	publisher rtcpWriter
	owner     string // the publisher's session id: a source switch between owners is a failover
	log       *slog.Logger

	pliInterval time.Duration
	joinLag     joinLagPolicy // how far behind live a joining viewer may start at the cached keyframe
	pliMu       sync.Mutex
	lastPLI     time.Time
	pliPending  bool
	nackedAt    []int64 // unix nanos of the last upstream NACK per ring slot

	onPacket atomic.Pointer[func()] // wakes the slot's downtracks
	unwoken  int                    // push side: packets stored since the downtracks were last woken
	wakeLate *time.Timer            // push side: wakes them for packets left waiting when no more come

	ext         media.SeqExtender // push side only
	keyTS       uint32            // RTP timestamp of the newest keyframe start
	keyTSValid  bool
	keyExt      uint64 // extended sequence number of its first packet
	firstExt    uint64
	windowStart time.Time
	windowBytes int
	tidWindow   [maxTemporal]int // bytes per VP8 temporal layer in the window
	tidSeen     int32            // highest temporal layer in the window + 1 (0: none)

	lastPacketNs atomic.Int64               // unix nanos of the newest packet: liveness
	bitrate      atomic.Uint64              // bits per second over the last full second
	tidRates     [maxTemporal]atomic.Uint64 // the same per temporal layer (VP8 TID)
	temporal     atomic.Int32               // temporal layers in the last full second (0: none)

	// Sender-report timing (sfu/senderreport.go): the source's own NTP ↔ RTP pair, and one
	// from arrivals for sources that give none.
	created time.Time
	clock   *srcClock // the publisher's clock mapping (nil: pairs are on the SFU's clock)
	srMu    sync.Mutex
	srcPair clockPair
	fbPair  clockPair
	fbPriv  clockPair // the push goroutine's copy of fbPair

	packets, bytes, plisSent, nacksSent atomic.Uint64
	unique, expected                    atomic.Uint64 // distinct sequence numbers received / spanned
	done                                chan struct{}
}

func newUpTrack(track *webrtc.TrackRemote, pub rtcpWriter, pliInterval time.Duration, joinLag joinLagPolicy, log *slog.Logger) *UpTrack {
	kind := track.Kind().String()
	size := audioRingSize
	if kind == "video" {
		size = videoRingSize
	}
	ring := newPacketRing(size)
	return &UpTrack{
		kind: kind, rid: track.RID(), codec: track.Codec(), ssrc: uint32(track.SSRC()),
		ring: ring, publisher: pub, log: log.With("kind", kind, "rid", track.RID(), "ssrc", uint32(track.SSRC())),
		pliInterval: pliInterval, joinLag: joinLag, nackedAt: make([]int64, ring.Size()), done: make(chan struct{}), created: time.Now(),
	}
}

// readLoop copies the track's packets into the ring until the track ends. It owns nothing
// but the ring's write side, so it runs ahead of all egress work.
func (u *UpTrack) readLoop(track *webrtc.TrackRemote) {
	defer close(u.done)
	var buf [maxPacketSize]byte
	for {
		n, _, err := track.Read(buf[:])
		if err != nil {
			if !errors.Is(err, io.EOF) {
				u.log.Debug("uptrack read ended", "err", err)
			}
			return
		}
		u.push(buf[:n])
	}
}

// push stores one RTP packet and wakes the downtracks. One goroutine at a time calls it.
func (u *UpTrack) push(pkt []byte) {
	var view media.RTPView
	if view.ParseRTP(pkt) != nil {
		return
	}
	isVideo := u.kind == "video"
	key := isVideo && media.IsKeyframeStart(u.codec.MimeType, view.Payload(pkt))
	extSeq := u.ext.Extend(view.SequenceNumber)
	earlierStart := false
	if key {
		// A keyframe starts at its first packet (the SPS, for H.264): later keyframe-start
		// packets of the same picture (the IDR after SPS/PPS) are not entry points, but one
		// that arrives late and comes first (an SPS repaired after the IDR's first fragment
		// arrived) moves the entry back to it.
		switch {
		case u.keyTSValid && view.Timestamp == u.keyTS:
			key, earlierStart = false, extSeq < u.keyExt
		case u.keyTSValid && extSeq < u.keyExt:
			key = false // a packet of an older keyframe, arriving late
		default:
			u.keyTS, u.keyTSValid = view.Timestamp, true
		}
		if key || earlierStart {
			u.keyExt = extSeq
		}
	}
	if u.firstExt == 0 {
		u.firstExt = extSeq
	}
	dup := u.ring.Has(extSeq)
	now := time.Now()
	if !u.ring.Put(extSeq, pkt, now, key) {
		return
	}
	if earlierStart {
		u.ring.moveKeyframeBack(extSeq)
	}
	u.measure(now, len(pkt), packetTID(u.codec.MimeType, view.Payload(pkt)))
	if !dup {
		u.noteArrival(now.UnixNano(), view.Timestamp)
		u.unique.Add(1)
	}
	if h := u.ext.Highest(); h >= u.firstExt {
		u.expected.Store(h - u.firstExt + 1)
	}
	u.packets.Add(1)
	u.bytes.Add(uint64(len(pkt)))
	if key {
		u.keyframeArrived()
	} else if isVideo {
		u.maybeSendPendingPLI()
	}
	if u.wakeDue(isVideo, view.Marker) {
		u.wakeDownTracks()
	}
}

// wakeDownTracks wakes the slot's downtracks (none while the track feeds no slot).
func (u *UpTrack) wakeDownTracks() {
	if f := u.onPacket.Load(); f != nil {
		(*f)()
	}
}

// wakeEvery is how many packets of one video frame may wait in the ring before the
// downtracks are woken for them; wakeAfter how long any packet may wait.
const (
	wakeEvery = 8
	wakeAfter = 5 * time.Millisecond
)

// wakeDue says whether the packet just stored wakes the slot's downtracks: every audio
// packet, a video frame's last packet (the marker), and every wakeEvery-th packet of a
// longer frame. A frame is of no use to a viewer before its last packet arrives, so the
// viewers' goroutines need not run for each of its packets: woken per packet, under load
// each ran two or three times per frame, sending a packet or two each time (one wake-up,
// one scheduling and one GSO message per run). Woken per frame, each sends the frame in
// one run, as one GSO message. The wakeEvery rule lets a keyframe's fan-out start while
// the rest of it still arrives (a paced publisher spreads a keyframe over tens of ms).
// Packets left waiting with no packet after them (a frame whose marker packet was lost,
// a publisher that stopped mid-frame) are woken for by a timer, wakeAfter after the first
// of them: it is armed once per frame, not per packet, and stopped when the frame wakes.
func (u *UpTrack) wakeDue(isVideo, marker bool) bool {
	u.unwoken++
	if isVideo && !marker && u.unwoken < wakeEvery {
		if u.unwoken == 1 {
			if u.wakeLate == nil {
				u.wakeLate = time.AfterFunc(wakeAfter, u.wakeDownTracks)
			} else {
				u.wakeLate.Reset(wakeAfter)
			}
		}
		return false
	}
	if u.unwoken > 1 && u.wakeLate != nil {
		u.wakeLate.Stop()
	}
	u.unwoken = 0
	return true
}

// measure keeps the layer's bitrate and liveness, for the viewers' layer choices.
func (u *UpTrack) measure(now time.Time, n int, tid int) {
	u.lastPacketNs.Store(now.UnixNano())
	if u.windowStart.IsZero() {
		u.windowStart = now
	}
	u.windowBytes += n
	if tid >= 0 {
		u.tidWindow[tid] += n
		u.tidSeen = max(u.tidSeen, int32(tid)+1)
	}
	if el := now.Sub(u.windowStart); el >= time.Second {
		u.bitrate.Store(uint64(float64(u.windowBytes*8) / el.Seconds()))
		u.storeTemporalRates(el)
		u.windowStart, u.windowBytes = now, 0
	}
}

// layerTimeout is how long a layer may be silent before viewers start moving off it (to a
// keyframe of another layer); at 30 fps that is about nine frame intervals.
const layerTimeout = 300 * time.Millisecond

// Alive reports whether the layer has sent a packet within layerTimeout.
func (u *UpTrack) Alive(now time.Time) bool {
	return now.UnixNano()-u.lastPacketNs.Load() < int64(layerTimeout)
}

// Bitrate is the layer's measured bitrate in bits per second (0 until a second has passed).
func (u *UpTrack) Bitrate() uint64 { return u.bitrate.Load() }

// Lost is the number of packets the publisher's sequence numbers spanned that never
// arrived (after the SFU's own NACKs to the publisher were answered or not).
func (u *UpTrack) Lost() uint64 {
	exp, got := u.expected.Load(), u.unique.Load()
	if got >= exp {
		return 0
	}
	return exp - got
}

// RequestKeyframe asks the publisher for a keyframe, at most once per pliInterval; a request
// inside the interval is remembered and sent when the interval ends unless a keyframe came.
func (u *UpTrack) RequestKeyframe() {
	if u.kind != "video" {
		return
	}
	u.pliMu.Lock()
	defer u.pliMu.Unlock()
	if time.Since(u.lastPLI) < u.pliInterval {
		u.pliPending = true
		return
	}
	u.sendPLILocked()
}

func (u *UpTrack) sendPLILocked() {
	u.lastPLI, u.pliPending = time.Now(), false
	u.plisSent.Add(1)
	if err := u.publisher.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: u.ssrc}}); err != nil {
		u.log.Debug("send PLI", "err", err)
	}
}

func (u *UpTrack) maybeSendPendingPLI() {
	u.pliMu.Lock()
	defer u.pliMu.Unlock()
	if u.pliPending && time.Since(u.lastPLI) >= u.pliInterval {
		u.sendPLILocked()
	}
}

func (u *UpTrack) keyframeArrived() {
	u.pliMu.Lock()
	u.pliPending = false
	u.pliMu.Unlock()
}

// NackUpstream asks the publisher to retransmit packets the cache lacks, each sequence
// number at most once per 100 ms.
func (u *UpTrack) NackUpstream(seqs []uint16) {
	now := time.Now().UnixNano()
	var pairs []rtcp.NackPair
	for _, s := range seqs {
		slot := &u.nackedAt[uint64(s)&u.ring.mask]
		if now-atomic.LoadInt64(slot) < int64(100*time.Millisecond) {
			continue
		}
		atomic.StoreInt64(slot, now)
		pairs = append(pairs, rtcp.NackPair{PacketID: s})
	}
	if len(pairs) == 0 {
		return
	}
	u.nacksSent.Add(uint64(len(pairs)))
	if err := u.publisher.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: u.ssrc, Nacks: pairs}}); err != nil {
		u.log.Debug("send NACK upstream", "err", err)
	}
}

// storeTemporalRates publishes the window's per-TID bitrates (push side only).
func (u *UpTrack) storeTemporalRates(el time.Duration) {
	for t := range u.tidWindow {
		u.tidRates[t].Store(uint64(float64(u.tidWindow[t]*8) / el.Seconds()))
		u.tidWindow[t] = 0
	}
	u.temporal.Store(u.tidSeen)
	u.tidSeen = 0
}

// TemporalLayers is how many temporal layers the layer carried over the last second (0 or 1:
// none to choose from).
func (u *UpTrack) TemporalLayers() int { return int(u.temporal.Load()) }

// BitrateUpTo is the layer's bitrate counting temporal layers 0..tid only.
func (u *UpTrack) BitrateUpTo(tid int32) uint64 {
	if tid >= tidAll || int(tid) >= u.TemporalLayers()-1 {
		return u.Bitrate()
	}
	var sum uint64
	for t := int32(0); t <= tid; t++ {
		sum += u.tidRates[t].Load()
	}
	return sum
}
