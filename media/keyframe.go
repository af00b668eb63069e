package media

import "strings"

// IsKeyframeStart reports whether an RTP payload of the given codec (MIME type, e.g.
// "video/H264") begins a keyframe a decoder can start from. Audio is always decodable.
func IsKeyframeStart(mimeType string, payload []byte) bool {
	switch strings.ToLower(mimeType) {
	case "video/h264":
		return h264KeyframeStart(payload)
	case "video/h265":
		return h265KeyframeStart(payload)
	case "video/vp8":
		return vp8KeyframeStart(payload)
	case "video/vp9":
		return vp9KeyframeStart(payload)
	case "video/av1":
		return av1KeyframeStart(payload)
	}
	return !IsVideo(mimeType)
}

// IsVideo reports whether the MIME type is a video codec.
func IsVideo(mimeType string) bool { return strings.HasPrefix(strings.ToLower(mimeType), "video/") }

// h264KeyframeStart is true for a packet that starts an IDR access unit: an SPS (single or
// aggregated), an IDR single NAL, or the first fragment of an IDR.
func h264KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch typ := p[0] & 0x1f; typ {
	case H264NALSPS:
		return true
	case H264NALIDR:
		return firstSlice(p[1:])
	case H264NALSTAPA:
		for nal := range H264STAPANALs(p) {
			if t := nal[0] & 0x1f; t == H264NALSPS || t == H264NALIDR && firstSlice(nal[1:]) {
				return true
			}
		}
	case H264NALFUA:
		return len(p) >= 3 && p[1]&0x80 != 0 && p[1]&0x1f == H264NALIDR && firstSlice(p[2:])
	}
	return false
}

// firstSlice reports whether a slice header starts the picture: first_mb_in_slice, the
// first ue(v) field, is 0 exactly when its first bit is 1. A multi-slice IDR (x264
// zerolatency uses one slice per thread) can only be joined at its first slice.
func firstSlice(sliceHeader []byte) bool {
	return len(sliceHeader) > 0 && sliceHeader[0]&0x80 != 0
}

// av1KeyframeStart reads the AV1 RTP aggregation header (Z|Y|W|N|-|-|-): N is set on the
// first packet of a coded video sequence (a keyframe with its sequence header), whose first
// OBU element cannot continue an earlier fragment (Z clear).
func av1KeyframeStart(p []byte) bool {
	return len(p) > 1 && p[0]&0x08 != 0 && p[0]&0x80 == 0
}

// vp8KeyframeStart is true for a packet whose payload descriptor parses and starts a keyframe.
func vp8KeyframeStart(p []byte) bool {
	d, err := ParseVP8Descriptor(p)
	return err == nil && d.Keyframe
}

// vp9KeyframeStart reads the VP9 payload descriptor (RFC 9628): start of a frame (B) that is
// not inter-predicted (P=0), in the base spatial layer.
func vp9KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	desc := p[0]
	i, pBit, l, f, b := desc&0x80 != 0, desc&0x40 != 0, desc&0x20 != 0, desc&0x10 != 0, desc&0x08 != 0
	if pBit || !b {
		return false
	}
	off := 1
	if i {
		if len(p) <= off {
			return false
		}
		if p[off]&0x80 != 0 {
			off += 2
		} else {
			off++
		}
	}
	if l {
		if len(p) <= off {
			return false
		}
		if sid := (p[off] >> 1) & 0x07; sid != 0 {
			return false
		}
	}
	_ = f
	return true
}
