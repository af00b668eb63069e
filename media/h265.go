package media

// H.265 NAL unit types (ITU-T H.265 table 7-1; RFC 7798 for the RTP ones) that Glint looks at.
const (
	H265NALVPS = 32 // video parameter set
	H265NALSPS = 33 // sequence parameter set
	H265NALPPS = 34 // picture parameter set
	H265NALAP  = 48 // RTP aggregation packet
	H265NALFU  = 49 // RTP fragmentation unit
)

// H265NALType is the type of an H.265 NAL unit (or RTP payload header), -1 for less than its
// two header bytes.
func H265NALType(nal []byte) int {
	if len(nal) < 2 {
		return -1
	}
	return int(nal[0] >> 1 & 0x3f)
}

// h265IRAP reports whether a NAL unit type is an IRAP picture's slice (BLA, IDR, CRA).
func h265IRAP(typ int) bool { return typ >= 16 && typ <= 21 }

// H265ParamSets keeps an H.265 stream's latest VPS, SPS and PPS, to put in front of an IRAP
// access unit that comes without them: a decoder that starts there can then decode it.
type H265ParamSets struct {
	VPS, SPS, PPS []byte
}

// Keep remembers a copy of nal when it is a VPS, SPS or PPS.
func (p *H265ParamSets) Keep(nal []byte) {
	switch H265NALType(nal) {
	case H265NALVPS:
		p.VPS = append(p.VPS[:0:0], nal...)
	case H265NALSPS:
		p.SPS = append(p.SPS[:0:0], nal...)
	case H265NALPPS:
		p.PPS = append(p.PPS[:0:0], nal...)
	}
}

// WithParams returns au with the kept parameter sets it lacks in front when it holds an IRAP
// slice, and whether it does.
func (p *H265ParamSets) WithParams(au [][]byte) (_ [][]byte, irap bool) {
	var has [64]bool
	for _, nal := range au {
		if t := H265NALType(nal); t >= 0 {
			has[t] = true
			irap = irap || h265IRAP(t)
		}
	}
	if !irap {
		return au, false
	}
	out := make([][]byte, 0, len(au)+3)
	for _, ps := range []struct {
		typ int
		nal []byte
	}{{H265NALVPS, p.VPS}, {H265NALSPS, p.SPS}, {H265NALPPS, p.PPS}} {
		if !has[ps.typ] && ps.nal != nil {
			out = append(out, ps.nal)
		}
	}
	return append(out, au...), true
}

// h265KeyframeStart is true for an RTP payload (RFC 7798, without DONL) that starts an IRAP
// access unit: a VPS (single or first in an aggregation packet), an IRAP slice that is the
// picture's first (first_slice_segment_in_pic_flag), or the first fragment of one.
func h265KeyframeStart(p []byte) bool {
	switch t := H265NALType(p); t {
	case H265NALVPS:
		return true
	case H265NALAP:
		for off := 2; off+2 < len(p); {
			size := int(p[off])<<8 | int(p[off+1])
			nal := p[off+2 : min(len(p), off+2+size)]
			if nt := H265NALType(nal); nt == H265NALVPS || h265IRAP(nt) && len(nal) > 2 && nal[2]&0x80 != 0 {
				return true
			}
			off += 2 + size
		}
	case H265NALFU:
		return len(p) > 3 && p[2]&0x80 != 0 && h265IRAP(int(p[2]&0x3f)) && p[3]&0x80 != 0
	default:
		return h265IRAP(t) && len(p) > 2 && p[2]&0x80 != 0
	}
	return false
}
