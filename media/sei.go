package media

import (
	"encoding/binary"
	"time"
)

// Capture-time stamps: an H.264 SEI NAL unit of type user_data_unregistered (payload type
// 5) whose 16-byte UUID is CaptureUUID, followed by the capture wall-clock time as 8 bytes
// of big-endian Unix nanoseconds. `glint loadtest` puts one in every access unit it
// publishes; its viewers, and the HLS bridge, read it back to measure latency end to end.
// The NAL unit is written with emulation prevention bytes, so it is a valid RBSP wherever
// it travels (RTP, Annex B, AVCC/fMP4).

// CaptureUUID identifies Glint's capture-time SEI payload.
var CaptureUUID = [16]byte{
	0x67, 0x6c, 0x69, 0x6e, 0x74, 0x2d, 0x63, 0x61, // "glint-ca"
	0x70, 0x74, 0x75, 0x72, 0x65, 0x2d, 0x74, 0x73, // "pture-ts"
}

const (
	seiUserDataUnreg       = 5
	captureSEIPayloadBytes = 16 + 8
)

// AppendCaptureSEI appends to dst one SEI NAL unit (header byte included, no start code or
// length prefix) that carries capture time t, and returns the extended slice.
func AppendCaptureSEI(dst []byte, t time.Time) []byte {
	var rbsp [2 + captureSEIPayloadBytes + 1]byte
	rbsp[0] = seiUserDataUnreg
	rbsp[1] = captureSEIPayloadBytes
	copy(rbsp[2:], CaptureUUID[:])
	binary.BigEndian.PutUint64(rbsp[18:], uint64(t.UnixNano()))
	rbsp[len(rbsp)-1] = 0x80 // rbsp_trailing_bits
	return AppendEscaped(append(dst, H264NALSEI), rbsp[:])
}

// ParseCaptureSEI reports the capture time carried by nal, an H.264 NAL unit (header byte
// first, no start code), when it is a capture-time SEI written by AppendCaptureSEI (alone or
// among other SEI messages of the same NAL unit). It does not allocate.
func ParseCaptureSEI(nal []byte) (time.Time, bool) {
	if len(nal) < 2 || nal[0]&0x1f != H264NALSEI {
		return time.Time{}, false
	}
	r := rbspReader{b: nal[1:]}
	for r.more() {
		payloadType, ok := r.seiValue()
		if !ok {
			return time.Time{}, false
		}
		size, ok := r.seiValue()
		if !ok {
			return time.Time{}, false
		}
		if payloadType != seiUserDataUnreg || size < captureSEIPayloadBytes {
			if !r.skip(size) {
				return time.Time{}, false
			}
			continue
		}
		var payload [captureSEIPayloadBytes]byte
		for i := range payload {
			b, ok := r.byte()
			if !ok {
				return time.Time{}, false
			}
			payload[i] = b
		}
		if [16]byte(payload[:16]) == CaptureUUID {
			return time.Unix(0, int64(binary.BigEndian.Uint64(payload[16:]))), true
		}
		if !r.skip(size - captureSEIPayloadBytes) {
			return time.Time{}, false
		}
	}
	return time.Time{}, false
}

// FindCaptureTimeAnnexB looks for a capture-time SEI among the NAL units of an Annex B
// access unit (start-code separated).
func FindCaptureTimeAnnexB(au []byte) (time.Time, bool) {
	for nal := range SplitAnnexB(au) {
		if t, ok := ParseCaptureSEI(nal); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// FindCaptureTimeAVCC looks for a capture-time SEI among the NAL units of an AVCC sample
// (each NAL unit prefixed by its length in 4 bytes, as in MP4/fMP4).
func FindCaptureTimeAVCC(sample []byte) (time.Time, bool) {
	for nal := range SplitAVCC(sample) {
		if t, ok := ParseCaptureSEI(nal); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// SplitAnnexB iterates over the NAL units of an Annex B byte stream (3- or 4-byte start
// codes), without their start codes.
func SplitAnnexB(b []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		start := -1
		for i := 0; i+2 < len(b); {
			if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
				if start >= 0 && !yield(trimTrailingZeros(b[start:i])) {
					return
				}
				i += 3
				start = i
				continue
			}
			i++
		}
		if start >= 0 && start < len(b) {
			yield(b[start:])
		}
	}
}

func trimTrailingZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// rbspReader reads bytes of a NAL unit's payload, dropping emulation prevention bytes.
type rbspReader struct {
	b     []byte
	zeros int
}

func (r *rbspReader) byte() (byte, bool) {
	if len(r.b) == 0 {
		return 0, false
	}
	c := r.b[0]
	r.b = r.b[1:]
	if r.zeros >= 2 && c == 3 {
		r.zeros = 0
		return r.byte()
	}
	if c == 0 {
		r.zeros++
	} else {
		r.zeros = 0
	}
	return c, true
}

// more reports whether another SEI message follows (more than the trailing 0x80 is left).
func (r *rbspReader) more() bool { return len(r.b) > 1 || (len(r.b) == 1 && r.b[0] != 0x80) }

// seiValue reads an SEI payload type or size: a run of 0xFF bytes plus a final byte.
func (r *rbspReader) seiValue() (int, bool) {
	v := 0
	for {
		c, ok := r.byte()
		if !ok {
			return 0, false
		}
		v += int(c)
		if c != 0xff {
			return v, true
		}
	}
}

func (r *rbspReader) skip(n int) bool {
	for range n {
		if _, ok := r.byte(); !ok {
			return false
		}
	}
	return true
}
