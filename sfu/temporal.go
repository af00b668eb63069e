package sfu

import (
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// Temporal layers (VP8 TID, RFC 7741) are a finer step below a simulcast layer: a viewer whose
// estimate sits between two layers, or below the lowest, gets a layer at a lower frame rate
// (TID 0 only, or TID 0-1) rather than the lower layer or a pause. The allocator decides a
// (layer, max TID) pair; the downtrack drops the packets above that TID, hiding the gap in
// sequence numbers (a munger epoch) and in PictureIDs (vp8Munger.skip).

// maxTemporal is how many VP8 temporal layers are told apart (TID is 2 bits).
const maxTemporal = 4

// tidAll is a temporal cap that drops nothing.
const tidAll int32 = maxTemporal - 1

// packetTID returns a VP8 packet's temporal layer index, or -1 (another codec, no T bit).
func packetTID(mimeType string, payload []byte) int {
	if !strings.EqualFold(mimeType, webrtc.MimeTypeVP8) {
		return -1
	}
	d, ok := parseVP8Descriptor(payload)
	if !ok {
		return -1
	}
	if tid, ok := d.tid(payload); ok {
		return int(tid)
	}
	return -1
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

// vp8PictureStart reports whether p is the first packet of a picture (S bit, partition 0).
func vp8PictureStart(p []byte) bool { return len(p) > 0 && p[0]&0x10 != 0 && p[0]&0x07 == 0 }

// dropTemporal reports whether the viewer's temporal cap drops packet p (descriptor desc).
// A new cap takes effect at a base-layer picture, after which every frame up to the cap can be
// decoded. The caller holds d.mu.
func (d *DownTrack) dropTemporal(p []byte, desc vp8Descriptor) bool {
	tid, ok := desc.tid(p)
	if !ok {
		return false
	}
	if tid == 0 && vp8PictureStart(p) {
		d.tidCap = d.wantTIDCap()
	}
	if int32(tid) <= d.tidCap {
		return false
	}
	d.vp8.skip(p, desc)
	d.stats.temporalDrops.Add(1)
	return true
}

// wantTIDCap is the allocator's temporal cap when the viewer is on the layer it allocated
// (a lower layer, chosen by the viewer's own cap or because the allocated one stopped, fits
// whole).
func (d *DownTrack) wantTIDCap() int32 {
	alloc := d.allocRank.Load()
	if d.src == nil || alloc == rankAny || alloc == rankPause || int32(layerRank(d.src.rid)) != alloc {
		return tidAll
	}
	return d.allocTID.Load()
}

// setTemporalCap is the allocator's temporal decision for the allocated layer.
func (d *DownTrack) setTemporalCap(tid int32) {
	if d.allocTID.Swap(tid) != tid {
		d.wake()
	}
}

// tidAbove reports whether p belongs to a temporal layer above cap.
func tidAbove(p []byte, desc vp8Descriptor, cap int32) bool {
	tid, ok := desc.tid(p)
	return ok && int32(tid) > cap
}
