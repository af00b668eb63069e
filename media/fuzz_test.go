package media

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

func FuzzParseRTP(f *testing.F) {
	f.Add(cat(rtpHeader(0x80, true, 96, 1000, 90000, 0x11223344), []byte{1, 2, 3}))
	f.Add(cat(rtpHeader(0x92, false, 96, 1, 2, 3), []byte{0, 0, 0, 1, 0, 0, 0, 2}, []byte{0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0}, []byte{9}))
	f.Add(cat(rtpHeader(0xb0, false, 111, 65535, 1, 1), []byte{0x10, 0x00, 0, 1, 1, 2, 3, 4}, []byte{5, 0, 0, 3}))
	f.Add(cat(rtpHeader(0xa0, false, 96, 1, 1, 1), []byte{0xff}))
	f.Add(cat(rtpHeader(0x8f, false, 96, 1, 1, 1)))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, buf []byte) {
		var v RTPView
		if err := v.ParseRTP(buf); err != nil {
			return
		}
		if v.PayloadStart < 12 || v.PayloadStart > v.PayloadEnd || v.PayloadEnd > len(buf) {
			t.Fatalf("payload [%d:%d] out of bounds for %d bytes", v.PayloadStart, v.PayloadEnd, len(buf))
		}
		if hdr := 12 + 4*int(buf[0]&0x0f); v.PayloadStart < hdr {
			t.Fatalf("payload starts at %d, inside the %d bytes of header and CSRCs", v.PayloadStart, hdr)
		}
		if buf[0]>>6 != 2 {
			t.Fatalf("accepted version %d", buf[0]>>6)
		}
		if v.SequenceNumber != binary.BigEndian.Uint16(buf[2:]) || v.Timestamp != binary.BigEndian.Uint32(buf[4:]) ||
			v.SSRC != binary.BigEndian.Uint32(buf[8:]) || v.PayloadType != buf[1]&0x7f || v.Marker != (buf[1]&0x80 != 0) {
			t.Fatalf("header fields %+v do not match % x", v, buf[:12])
		}
		if buf[0]&0x20 == 0 && v.PayloadEnd != len(buf) {
			t.Fatalf("no padding, but payload ends at %d of %d", v.PayloadEnd, len(buf))
		}
		_ = v.Payload(buf)
	})
}

func FuzzIsKeyframeStart(f *testing.F) {
	seeds := []struct {
		mime    string
		payload []byte
	}{
		{"video/H264", []byte{0x67, 0x42, 0xe0, 0x1f}},
		{"video/H264", []byte{0x78, 0, 2, 0x06, 1, 0, 2, 0x65, 0x88}},
		{"video/H264", []byte{0x7c, 0x85, 0x88}},
		{"video/VP8", []byte{0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, 0x10}},
		{"video/VP9", []byte{0xa8, 0x80, 0x01, 0x01, 0x00}},
		{"audio/opus", []byte{0xfc}},
		{"video/AV1", nil},
	}
	for _, s := range seeds {
		f.Add(s.mime, s.payload)
	}
	f.Fuzz(func(t *testing.T, mime string, payload []byte) {
		key := IsKeyframeStart(mime, payload)
		if key && IsVideo(mime) && len(payload) == 0 {
			t.Fatalf("empty %s payload is a keyframe start", mime)
		}
		// A decision is made from a prefix of the payload: more bytes after a keyframe
		// start cannot turn it into something else.
		if key {
			longer := append(append([]byte(nil), payload...), 0xff, 0xff, 0x01)
			if !IsKeyframeStart(mime, longer) {
				t.Fatalf("%s: % x is a keyframe start but % x is not", mime, payload, longer)
			}
		}
	})
}

// FuzzH264Depacketize feeds a stream of payloads (each prefixed by its length in one byte)
// to the depacketizer: whatever comes in, every NAL unit handed on is non-empty, made only
// of bytes that came in, and a whole NAL unit type (1..23); and packetizing what came out
// gives the same NAL units back.
func FuzzH264Depacketize(f *testing.F) {
	f.Add([]byte{3, 0x65, 1, 2})
	f.Add([]byte{8, H264NALSTAPA, 0, 2, 0x67, 9, 0, 1, 0x68})
	f.Add([]byte{4, 0x7c, 0x85, 1, 2, 3, 0x7c, 0x05, 3, 3, 0x7c, 0x45, 4})
	f.Add([]byte{3, 0x7c, 0x05, 3, 2, 0x61, 1, 0, 1, 0x19})
	f.Add([]byte{5, H264NALSTAPA, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, stream []byte) {
		var d H264Depacketizer
		var nals [][]byte
		in := 0
		for len(stream) > 0 {
			n := min(int(stream[0]), len(stream)-1)
			payload := stream[1 : 1+n]
			stream = stream[1+n:]
			in += len(payload)
			_ = d.Push(payload, func(nal []byte) {
				if len(nal) == 0 {
					t.Fatal("empty NAL unit")
				}
				if typ := nal[0] & nalTypeMask; typ == 0 || typ >= H264NALSTAPA {
					t.Fatalf("NAL unit of type %d handed on", typ)
				}
				nals = append(nals, bytes.Clone(nal))
			})
		}
		out := 0
		for _, n := range nals {
			out += len(n)
		}
		if out > in {
			t.Fatalf("%d bytes of NAL units out of %d bytes in", out, in)
		}
		p := H264Packetizer{MaxPayload: 64, Aggregate: true}
		var again [][]byte
		var back H264Depacketizer
		err := p.Packetize(nals, func(payload []byte, _ bool) error {
			return back.Push(payload, func(nal []byte) { again = append(again, bytes.Clone(nal)) })
		})
		if err != nil || !slices.EqualFunc(again, nals, bytes.Equal) {
			t.Fatalf("round trip: %v, %d NAL units back of %d", err, len(again), len(nals))
		}
	})
}
