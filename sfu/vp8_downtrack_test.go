package sfu

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// recordingWriter keeps a copy of every packet a downtrack writes.
type recordingWriter struct{ pkts []rtp.Packet }

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.pkts = append(w.pkts, rtp.Packet{Header: *h, Payload: append([]byte(nil), payload...)})
	return len(payload), nil
}

func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }

// vp8Layer is one simulcast layer of a VP8 slot, fed through UpTrack.push like the reader.
type vp8Layer struct {
	up  *UpTrack
	seq uint16
	ts  uint32
}

func newVP8Layer(s *slot, rid string, seq uint16) *vp8Layer {
	ring := newPacketRing(videoRingSize)
	up := &UpTrack{kind: "video", rid: rid, codec: s.codec, ring: ring, pliInterval: time.Millisecond,
		nackedAt: make([]int64, ring.Size()), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		publisher: nopRTCP{}, done: make(chan struct{})}
	s.addLayer(up)
	return &vp8Layer{up: up, seq: seq, ts: 90000}
}

// send pushes one single-packet VP8 frame with the given PictureID (15 bits) and TL0PICIDX.
func (l *vp8Layer) send(key bool, pic, tl0 int) {
	p := vp8Pkt(f15(pic, tl0, -1))
	p[0] |= 0x10 // S: start of partition 0
	p[len(p)-2] = 0x01
	if key {
		p[len(p)-2] = 0x00 // P bit clear: keyframe
	}
	l.seq++
	l.ts += 3000
	l.up.push(marshalPacket(l.seq, l.ts, p))
}

func TestDownTrackVP8PictureIDsContinueAcrossALayerSwitchAndInResends(t *testing.T) {
	s := newSlot("video", vp8Codec)
	low, high := newVP8Layer(s, "l", 100), newVP8Layer(s, "h", 40000)
	w := &recordingWriter{}
	d := boundDownTrack(s, w)

	d.SetMaxLayer("l")
	low.send(true, 300, 30)
	high.send(true, 9000, 200)
	d.drain() // starts on l at its keyframe
	low.send(false, 301, 31)
	high.send(false, 9001, 201)
	d.drain()
	d.SetMaxLayer("h")
	d.drain() // asks h for a keyframe and waits for it
	low.send(false, 302, 32)
	high.send(true, 9002, 202)
	d.drain() // switches at h's keyframe
	high.send(false, 9003, 203)
	d.drain()

	wantPics, wantTL0 := []int{300, 301, 302, 303}, []int{30, 31, 32, 33}
	if len(w.pkts) != len(wantPics) {
		t.Fatalf("forwarded %d packets, want %d", len(w.pkts), len(wantPics))
	}
	for i, p := range w.pkts {
		got := readVP8(t, p.Payload)
		if got.pic != wantPics[i] || got.tl0 != wantTL0[i] {
			t.Fatalf("packet %d: PictureID %d TL0PICIDX %d, want %d %d", i, got.pic, got.tl0, wantPics[i], wantTL0[i])
		}
	}
	if d.Layer() != "h" {
		t.Fatalf("on layer %q, want h", d.Layer())
	}
	// The ring keeps the publisher's numbers: other viewers copy from it.
	buf := make([]byte, maxPacketSize)
	n, _ := high.up.ring.CopyOut(high.up.ring.Head(), buf)
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if got := readVP8(t, pkt.Payload); got.pic != 9003 {
		t.Fatalf("the ring's copy has PictureID %d, want the publisher's 9003", got.pic)
	}
	// A NACKed packet goes out again exactly as it went the first time.
	for _, i := range []int{2, 3} {
		sent := len(w.pkts)
		if n, _, inEpoch := d.resend(w.pkts[i].SequenceNumber, time.Now()); n == 0 || !inEpoch {
			t.Fatalf("resend of packet %d: n=%d inEpoch=%v", i, n, inEpoch)
		}
		if got := readVP8(t, w.pkts[sent].Payload); got.pic != wantPics[i] || got.tl0 != wantTL0[i] {
			t.Fatalf("resent packet %d: PictureID %d TL0PICIDX %d, want %d %d", i, got.pic, got.tl0, wantPics[i], wantTL0[i])
		}
	}
}
