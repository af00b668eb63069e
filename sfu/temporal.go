package sfu

import (
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// Temporal layers (VP8 TID, RFC 7741) are a finer step below a simulcast layer: a viewer whose
// estimate sits between two layers, or below the lowest, gets a layer at a lower frame rate
// (TID 0 only, or TID 0-1) rather than the lower layer or a pause. The allocator decides a
// (layer, max TID) pair; the forwarder drops the packets above that TID, hiding the gap in
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
	d, err := media.ParseVP8Descriptor(payload)
	if err != nil || !d.HasTID {
		return -1
	}
	return int(d.TID)
}

// setTemporalCap is the allocator's temporal decision for the allocated layer.
func (d *DownTrack) setTemporalCap(tid int32) {
	if d.allocTID.Swap(tid) != tid {
		d.wake()
	}
}
