package sfu

import (
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// forwarder decides, packet by packet, what one viewer gets of one slot: which layer it is on
// (and the one it switches to at that layer's next keyframe), whether it waits for a keyframe,
// which VP8 temporal layers it drops, and the sequence numbers, timestamps and VP8 picture
// numbers each packet goes out with. It keeps what retransmissions and sender reports need of
// that history. It reads packets but never writes them: the DownTrack owns the write loop,
// RTCP and stats, and holds its lock around every call (it is not safe for concurrent use).
type forwarder struct {
	isVideo, isVP8 bool
	mimeType       string

	src          *UpTrack  // the layer forwarded now
	pending      *UpTrack  // the layer being switched to at its next keyframe
	pendingSince time.Time // when pending was chosen or last asked for a keyframe
	pendingFrom  uint64    // the first ring position of pending a switch may start at

	cursor     uint64        // the next ring position of src to look at
	needKey    bool          // drop until a keyframe starts
	keyAskedAt time.Time     // last keyframe request while waiting for one
	newEpoch   bool          // the next packet sent starts an epoch of the munger
	sameSrc    bool          // that epoch continues the previous one's timeline (a skip)
	missingRun uint64        // packets missing from the ring since the last one sent or dropped
	joinLive   uint64        // after a start at the cached keyframe, the ring's head then (what is live)
	joinLag    time.Duration // how far behind live that start was
	joinedAt   time.Time     // when it was

	allocRank, allocTID int32 // the allocator's layer and temporal cap, as of the last drain
	tidCap              int32 // temporal cap in effect (changes at base-layer pictures)
	dropped             bool  // packets were dropped since the last one sent: hide the gap

	m           munger
	vp8         vp8Munger               // VP8 picture numbering, continuous across sources
	vp8Sent     [resendSlots]vp8Numbers // the numbers each outgoing seq went out with
	epochSrc    *UpTrack                // the source whose timeline m.tsOffset maps (sender reports)
	reportedSrc *UpTrack                // the epochSrc of the latest sender report
}

func newForwarder(codec webrtc.RTPCodecParameters, isVideo bool) forwarder {
	return forwarder{
		isVideo: isVideo, isVP8: strings.EqualFold(codec.MimeType, webrtc.MimeTypeVP8), mimeType: codec.MimeType,
		m: munger{clockRate: codec.ClockRate}, allocTID: tidAll, tidCap: tidAll,
	}
}

// keyRepeat is how often a viewer waiting for a keyframe asks again.
const keyRepeat = time.Second

// srcPacket is one source packet as the forwarder sees it.
type srcPacket struct {
	ext     uint64 // its extended sequence number: its place in the source's ring
	seq     uint16
	ts      uint32
	payload []byte // the viewer's own copy: VP8 numbers are rewritten in place
}

// verdict is what becomes of a source packet.
type verdict uint8

const (
	verdictSend         verdict = iota // goes out with the decision's numbers
	verdictKeyWait                     // dropped: the viewer waits for a keyframe
	verdictTemporalDrop                // dropped: a temporal layer above the cap
)

// decision is the forwarder's answer for one source packet.
type decision struct {
	verdict verdict
	askKey  bool       // ask the source for a keyframe (again)
	seq     uint16     // outgoing sequence number (verdictSend)
	ts      uint32     // outgoing timestamp (verdictSend)
	vp8     vp8Numbers // the VP8 numbers written into the payload (valid: it had a descriptor)
}

// sourceChange is what follow did to the forwarded layer.
type sourceChange uint8

const (
	sourceKept      sourceChange = iota // the same source (a switch may be pending)
	sourceSwitched                      // another source (or none) at once
	layerSwitched                       // another layer, at its keyframe
	joinedFromCache                     // a first source, from its cached keyframe
	joinedAskingKey                     // a first source, at its next keyframe (asked for)
)

// follow moves the viewer towards want. A video viewer that has a layer keeps it until a
// keyframe of the target arrives (asked for at once), so the picture never breaks, also when
// its layer has just stopped; anything else switches at once. ask is the uptrack to ask for a
// keyframe now (nil: none).
func (f *forwarder) follow(want *UpTrack, now time.Time) (ask *UpTrack, change sourceChange) {
	switch {
	case want == f.src:
		f.pending = nil
		return nil, sourceKept
	case want == nil || f.src == nil || !f.isVideo:
		f.pending, f.joinLive = nil, 0
		f.src, f.cursor, f.newEpoch, f.sameSrc = want, 0, true, false
		f.needKey, f.keyAskedAt = f.isVideo, now
		if want == nil || !f.isVideo || f.m.started {
			return want, sourceSwitched
		}
		return f.join(want, now)
	case f.pending != want:
		if key, _, ok := want.cachedKeyframe(now); ok && want.owner != f.src.owner {
			// Another publisher (a backup going on air): its cached keyframe, if recent, is
			// the quickest picture; waiting for its next one would leave a gap.
			f.src, f.cursor, f.newEpoch, f.sameSrc, f.needKey, f.pending = want, key, true, false, false, nil
			f.joinLive = 0
			return nil, layerSwitched
		}
		f.pending, f.pendingSince, f.pendingFrom = want, now, want.ring.Head()+1
		return want, sourceKept
	}
	if key := want.ring.LastKeyframe(); key >= f.pendingFrom && key != 0 {
		f.src, f.cursor, f.newEpoch, f.sameSrc, f.needKey, f.pending = want, key, true, false, false, nil
		f.joinLive = 0
		return nil, layerSwitched
	}
	if now.Sub(f.pendingSince) > time.Second {
		f.pendingSince = now
		return want, sourceKept // throttled at the uptrack; repeats a lost request
	}
	return nil, sourceKept
}

// join starts a viewer that has had no video yet on src: at src's cached keyframe when it is
// recent enough (everything from there to live goes out at once, and the viewer goes on in
// real time), otherwise at src's next keyframe, asked for now.
func (f *forwarder) join(src *UpTrack, now time.Time) (ask *UpTrack, change sourceChange) {
	key, lag, ok := src.cachedKeyframe(now)
	f.joinLag = lag
	if !ok {
		return src, joinedAskingKey
	}
	f.cursor, f.joinLive, f.joinedAt = key, src.ring.Head(), now
	return nil, joinedFromCache
}

// catchingUp reports whether the packet at the cursor is one of those that were already in
// the ring when the viewer started at the cached keyframe (sent late by design, so their
// transit says nothing of the SFU's).
func (f *forwarder) catchingUp() bool { return f.joinLive != 0 && f.cursor <= f.joinLive }

// caughtUp reports, once, that a viewer started at the cached keyframe (at joinedAt) has
// had every packet that was live then.
func (f *forwarder) caughtUp() bool {
	if f.joinLive == 0 || f.catchingUp() {
		return false
	}
	f.joinLive = 0
	return true
}

// catchUp places the cursor for a source whose newest packet is head: at head for a fresh
// source (or at the first packet of the keyframe head belongs to, see freshStart), and at
// head again when the viewer fell a ring behind, which then skips to the next keyframe
// (skipped: ask for one).
func (f *forwarder) catchUp(head, ringSize uint64) (skipped bool) {
	if f.cursor == 0 {
		f.cursor = f.freshStart(head)
	}
	if head < f.cursor+ringSize-16 {
		return false
	}
	f.skipTo(head)
	return true
}

// freshStart is where a video viewer new to its source starts waiting for a keyframe: at
// head, or at the first packet of the newest keyframe when head is a later packet of that
// keyframe's picture. A source that sends a keyframe in a burst (the alternate video after a
// wake) is often met half-way through it; the viewer then gets it whole, parameter sets
// first, instead of waiting for the next one.
func (f *forwarder) freshStart(head uint64) uint64 {
	if f.isVideo && f.src != nil {
		if start, ok := f.src.ring.PictureKeyframeStart(head); ok {
			return start
		}
	}
	return head
}

// skipTo moves the cursor to head, where the viewer waits for the next keyframe on the same
// timeline (a skip: too far behind to catch up).
func (f *forwarder) skipTo(head uint64) {
	f.cursor, f.needKey, f.newEpoch, f.sameSrc = head, f.isVideo, true, true
}

// missing notes a packet the ring lacks at the cursor: the viewer will NACK it.
func (f *forwarder) missing() { f.missingRun++ }

// setAllocation records the allocator's layer and temporal cap; a new temporal cap takes
// effect at the next base-layer picture.
func (f *forwarder) setAllocation(rank, tid int32) { f.allocRank, f.allocTID = rank, tid }

// packet decides what becomes of source packet p at now, and for a packet that goes out,
// moves the outgoing numbering on (rewriting p's VP8 numbers in place).
func (f *forwarder) packet(p srcPacket, now time.Time) decision {
	missing := f.missingRun
	f.missingRun = 0
	var desc media.VP8Descriptor
	hasDesc := false
	if f.isVP8 {
		var err error
		desc, err = media.ParseVP8Descriptor(p.payload)
		hasDesc = err == nil
	}
	if f.needKey {
		if !f.keyframeStart(p, desc, hasDesc) {
			ask := now.Sub(f.keyAskedAt) > keyRepeat // encoders may ignore a request close to another
			if ask {
				f.keyAskedAt = now
			}
			return decision{verdict: verdictKeyWait, askKey: ask}
		}
		f.needKey = false
	}
	if hasDesc && f.aboveTemporalCap(desc) {
		if !f.dropped && !f.newEpoch {
			f.m.reserve(missing) // missing before the drop: keep their numbers for NACKs
		}
		f.dropped = true
		return decision{verdict: verdictTemporalDrop}
	}
	if f.newEpoch || f.dropped { // rare: keep the per-packet path free of the call
		f.startEpoch(p, now)
	}
	out := decision{verdict: verdictSend}
	out.seq, out.ts = f.m.apply(p.seq, p.ts, now)
	if hasDesc {
		out.vp8 = f.vp8.rewriteParsed(p.payload, desc)
		out.vp8.seq = out.seq
		f.vp8Sent[out.seq%resendSlots] = out.vp8
	}
	return out
}

// keyframeStart reports whether p starts a keyframe a decoder can join at: a keyframe-start
// payload that its source's ring holds as the keyframe's first packet. An H.264 IDR slice
// after the SPS/PPS of its picture is not one: a viewer placed between them would get an IDR
// that references parameter sets it never had.
func (f *forwarder) keyframeStart(p srcPacket, desc media.VP8Descriptor, hasDesc bool) bool {
	if f.isVP8 {
		return hasDesc && desc.Keyframe
	}
	return media.IsKeyframeStart(f.mimeType, p.payload) && (f.src == nil || f.src.ring.IsKeyframeStart(p.ext))
}

// startEpoch rebases the munger before p goes out when a new epoch starts (another source,
// or a skip far ahead of what was sent) or when dropped packets left a gap to hide.
func (f *forwarder) startEpoch(p srcPacket, now time.Time) {
	switch {
	case f.newEpoch:
		f.m.rebase(p.ext, p.ts, now, f.sameSrc)
		f.epochSrc = f.src
		f.m.forgetPast()
		f.vp8.rebase()
		f.newEpoch, f.dropped = false, false
	case f.dropped: // the same timeline goes on without the dropped packets' numbers
		f.m.rebase(p.ext, p.ts, now, true)
		f.dropped = false
	}
}

// aboveTemporalCap reports whether the temporal cap drops the packet of descriptor d. A new
// cap takes effect at a base-layer picture, after which every frame up to the cap can be
// decoded; a dropped picture's PictureID is skipped so that the viewer sees no gap.
func (f *forwarder) aboveTemporalCap(d media.VP8Descriptor) bool {
	if !d.HasTID {
		return false
	}
	if d.TID == 0 && d.Start && d.PartitionID == 0 {
		f.tidCap = f.wantTIDCap()
	}
	if int32(d.TID) <= f.tidCap {
		return false
	}
	f.vp8.skip(d)
	return true
}

// wantTIDCap is the allocator's temporal cap when the viewer is on the layer it allocated
// (a lower layer, chosen by the viewer's own cap or because the allocated one stopped, fits
// whole).
func (f *forwarder) wantTIDCap() int32 {
	alloc := f.allocRank
	if f.src == nil || alloc == rankAny || alloc == rankPause || int32(layerRank(f.src.rid)) != alloc {
		return tidAll
	}
	return f.allocTID
}

// resendPlan is what a retransmission of one outgoing sequence number needs of the
// forwarder's state, taken under the DownTrack's lock.
type resendPlan struct {
	src       *UpTrack
	srcExt    uint64     // the packet's place in src's ring
	tsOffset  uint32     // outgoing − source timestamp
	sent      vp8Numbers // the VP8 numbers it went out with (if sent.seq is it)
	numbering vp8Munger  // a copy, for a packet that was never sent (missing from the ring then)
	tidCap    int32
}

// resendPlan maps outSeq back to its source packet; false when it is not one of the epochs
// still mappable.
func (f *forwarder) resendPlan(outSeq uint16) (resendPlan, bool) {
	srcExt, ok := f.m.sourceOf(outSeq)
	if !ok || f.src == nil {
		return resendPlan{}, false
	}
	return resendPlan{src: f.src, srcExt: srcExt, tsOffset: f.m.tsOffset, sent: f.vp8Sent[outSeq%resendSlots],
		numbering: f.vp8, tidCap: f.tidCap}, true
}

// rewriteVP8 gives the resent payload of outSeq the VP8 numbers it went out with the first
// time, or for a packet never sent, the numbers counted back from the newest picture sent.
// It returns false for a packet of a dropped temporal layer: never the viewer's.
func (r *resendPlan) rewriteVP8(payload []byte, outSeq uint16) bool {
	desc, err := media.ParseVP8Descriptor(payload)
	switch {
	case err != nil:
	case r.sent.valid && r.sent.seq == outSeq:
		r.sent.write(payload, desc)
	case desc.HasTID && int32(desc.TID) > r.tidCap:
		return false
	default:
		r.numbering.rewriteParsed(payload, desc)
	}
	return true
}

// recentSeq is the outgoing sequence number sent back packets before the newest one.
func (f *forwarder) recentSeq(back uint16) (uint16, bool) {
	if !f.m.started || f.m.sentInEpoch == 0 {
		return 0, false
	}
	return f.m.highestSeq - back, true
}

// timeline is the source whose clock the outgoing timestamps follow now (nil before the
// first packet) and the offset between them.
func (f *forwarder) timeline() (*UpTrack, uint32) { return f.epochSrc, f.m.tsOffset }

// awaitsReport says whether packets of a timeline went out that no sender report described.
func (f *forwarder) awaitsReport() bool { return f.epochSrc != f.reportedSrc }

// markReported records a sender report of the timeline (src, tsOffset) read by timeline; it
// returns false when the timeline changed meanwhile (the report would be wrong).
func (f *forwarder) markReported(src *UpTrack, tsOffset uint32) bool {
	if f.epochSrc != src || f.m.tsOffset != tsOffset {
		return false
	}
	f.reportedSrc = src
	return true
}
