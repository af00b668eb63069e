package sfu

import (
	"slices"
	"testing"
	"time"

	"github.com/glint-video/glint/media"
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

// TestWaitingViewerStartsAtTheKeyframesFirstPacket: a viewer waiting for a keyframe starts
// where the ring says a keyframe starts (the SPS in front of an H.264 IDR), never at the IDR
// slice after it, whose parameter sets it would lack ("non-existing PPS" at the decoder). A
// viewer new to the source that meets a keyframe half-way gets all of it.
func TestWaitingViewerStartsAtTheKeyframesFirstPacket(t *testing.T) {
	sps, pps := []byte{0x67, 0x42, 0xe0, 0x1f}, []byte{0x68, 0xce, 0x3c, 0x80}
	idrStart := []byte{0x7c, 0x85, 0x88, 0x84}
	idrEnd := []byte{0x7c, 0x45, 0x11}
	slice := []byte{0x41, 0x9a} // a P slice, first_mb_in_slice 0
	type in struct {
		seq     uint16
		ts      uint32
		payload []byte
	}
	keyframe := func(seq uint16, ts uint32) []in {
		return []in{{seq, ts, sps}, {seq + 1, ts, pps}, {seq + 2, ts, idrStart}, {seq + 3, ts, idrEnd}}
	}
	tests := []struct {
		name   string
		before []in   // in the ring when the viewer is placed
		cursor uint16 // where the viewer is placed (0: a fresh viewer, at the source's head)
		after  []in   // arriving later
		want   []uint16
	}{
		{"fresh, half-way through a keyframe", keyframe(10, 3000)[:3], 0, keyframe(10, 3000)[3:],
			[]uint16{10, 11, 12, 13}},
		{"fresh, after a keyframe's picture", append(keyframe(10, 3000), in{14, 6000, slice}), 0, keyframe(20, 9000),
			[]uint16{20, 21, 22, 23}},
		{"waiting at an IDR slice after its SPS/PPS", keyframe(10, 3000), 12, append([]in{{14, 6000, slice}}, keyframe(20, 9000)...),
			[]uint16{20, 21, 22, 23}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, up := benchSlot()
			f := newForwarder(up.codec, true)
			now := time.Now()
			if _, change := f.follow(up, now); change != joinedAskingKey {
				t.Fatalf("join: %v, want a wait for the next keyframe", change)
			}
			var sent []uint16
			for _, p := range tt.before {
				up.push(marshalPacket(p.seq, p.ts, p.payload))
			}
			if tt.cursor != 0 {
				f.cursor = up.ring.Head() - uint64(tt.before[len(tt.before)-1].seq-tt.cursor)
			}
			sent = forwardAll(&f, up, now, sent)
			for _, p := range tt.after {
				up.push(marshalPacket(p.seq, p.ts, p.payload))
				sent = forwardAll(&f, up, now, sent)
			}
			if !slices.Equal(sent, tt.want) {
				t.Fatalf("sent %v, want %v", sent, tt.want)
			}
		})
	}
}

// forwardAll is DownTrack.drain without the writer: it appends the sequence numbers of the
// packets f lets through to sent.
func forwardAll(f *forwarder, up *UpTrack, now time.Time, sent []uint16) []uint16 {
	head := up.ring.Head()
	f.catchUp(head, up.ring.Size())
	var buf [maxPacketSize]byte
	var view media.RTPView
	for ; f.cursor <= head; f.cursor++ {
		n, _ := up.ring.CopyOut(f.cursor, buf[:])
		if n == 0 || view.ParseRTP(buf[:n]) != nil {
			f.missing()
			continue
		}
		p := srcPacket{ext: f.cursor, seq: view.SequenceNumber, ts: view.Timestamp, payload: view.Payload(buf[:n])}
		if f.packet(p, now).verdict == verdictSend {
			sent = append(sent, view.SequenceNumber)
		}
	}
	return sent
}
