package media

import (
	"encoding/binary"
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
