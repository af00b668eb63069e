package media

import (
	"fmt"
	"strings"
)

// ParseFmtp splits an SDP fmtp line ("a=1;b=2") into lower-cased keys and values.
func ParseFmtp(line string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k != "" {
			out[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// FmtpCompatible reports whether a stream described by fmtp a can be decoded by a receiver
// that offered fmtp b, for the codec mimeType. H.264 needs the same packetization-mode and
// profile (profile_idc and constraint flags; a receiver's level is not a limit we enforce);
// VP9 the same profile-id; other codecs have no parameters that matter here.
func FmtpCompatible(mimeType, a, b string) bool {
	fa, fb := ParseFmtp(a), ParseFmtp(b)
	switch strings.ToLower(mimeType) {
	case "video/h264":
		if orDefault(fa["packetization-mode"], "0") != orDefault(fb["packetization-mode"], "0") {
			return false
		}
		return h264Profile(fa["profile-level-id"]) == h264Profile(fb["profile-level-id"])
	case "video/vp9":
		return orDefault(fa["profile-id"], "0") == orDefault(fb["profile-id"], "0")
	case "video/av1":
		return orDefault(fa["profile"], "0") == orDefault(fb["profile"], "0")
	case "video/h265":
		return orDefault(fa["profile-id"], "1") == orDefault(fb["profile-id"], "1")
	}
	return true
}

// h264Profile returns profile_idc and constraint flags (the first 4 hex digits) of a
// profile-level-id, normalising constrained baseline spellings (42e0, 4240 → 42e0).
func h264Profile(profileLevelID string) string {
	p := strings.ToLower(orDefault(profileLevelID, "42001f"))
	if len(p) != 6 {
		return p
	}
	idc, constraints := p[:2], p[2:4]
	if idc == "42" && (constraints == "e0" || constraints == "40" || constraints == "c0") {
		return "42e0" // constrained baseline, however flagged
	}
	return idc + constraints
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// AVCCodecString is the RFC 6381 codec string of H.264 ("avc1.42e01f"): profile_idc, the
// constraint flags and level_idc, as in the SPS (bytes 1-3) or an avcC box.
func AVCCodecString(profile, constraints, level byte) string {
	return fmt.Sprintf("avc1.%02x%02x%02x", profile, constraints, level)
}

// AACCodecString is the RFC 6381 codec string of an AAC AudioSpecificConfig: "mp4a.40."
// and its audio object type ("mp4a.40.2" for LC), the escaped form (31) included.
func AACCodecString(asc []byte) string {
	obj := asc[0] >> 3
	if obj == 31 && len(asc) >= 2 { // escape: 32 + 6 more bits
		obj = 32 + (asc[0]&7)<<3 | asc[1]>>5
	}
	return fmt.Sprintf("mp4a.40.%d", obj)
}
