package sfu

import (
	"testing"
)

// TestKeyframeEntryIsThePicturesFirstPacket: a viewer switching to a layer starts at the
// packet the ring calls the newest keyframe start. For H.264 that must be the SPS/PPS before
// the IDR, also when the SPS arrives after the IDR's first fragment (reordered, or repaired
// by an upstream NACK); otherwise the viewer decodes the IDR with another layer's SPS.
func TestKeyframeEntryIsThePicturesFirstPacket(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xe0, 0x1f}
	idrStart := []byte{0x7c, 0x85, 0x88, 0x84} // FU-A, start of an IDR, first_mb_in_slice 0
	idrMore := []byte{0x7c, 0x05, 0x11}
	type in struct {
		seq     uint16
		ts      uint32
		payload []byte
	}
	tests := []struct {
		name    string
		packets []in
		wantSeq uint16
	}{
		{"in order", []in{{10, 3000, sps}, {11, 3000, idrStart}, {12, 3000, idrMore}}, 10},
		{"SPS after the IDR's first fragment", []in{{11, 3000, idrStart}, {12, 3000, idrMore}, {10, 3000, sps}}, 10},
		{"a later keyframe", []in{{10, 3000, sps}, {11, 3000, idrStart}, {20, 6000, idrStart}, {19, 6000, sps}}, 19},
		{"an old SPS does not move a newer keyframe", []in{{20, 6000, sps}, {21, 6000, idrStart}, {10, 3000, sps}, {21, 6000, idrStart}}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, up := benchSlot()
			for _, p := range tt.packets {
				up.push(marshalPacket(p.seq, p.ts, p.payload))
			}
			if got := up.ring.LastKeyframe(); uint16(got) != tt.wantSeq {
				t.Fatalf("keyframe entry at sequence %d, want %d", uint16(got), tt.wantSeq)
			}
		})
	}
}
