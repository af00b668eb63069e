package media

import (
	"encoding/binary"
	"iter"
)

// H.264 NAL unit helpers shared by whoever reads access units: the NAL unit types, the MP4
// form (AVCC, each NAL unit behind its 4-byte length) and the parameter sets of an access
// unit. SplitAnnexB, for the start-code form, is with the capture-time SEI it was written for;
// RTP is in h264rtp.go.

// H.264 NAL unit types (H.264 table 7-1) and the RTP aggregation and fragmentation
// packet types (RFC 6184 section 5.2), which share the NAL header's 5-bit type field.
const (
	H264NALSlice  = 1  // coded slice of a non-IDR picture
	H264NALIDR    = 5  // coded slice of an IDR picture
	H264NALSEI    = 6  // supplemental enhancement information
	H264NALSPS    = 7  // sequence parameter set
	H264NALPPS    = 8  // picture parameter set
	H264NALAUD    = 9  // access unit delimiter
	H264NALFiller = 12 // filler data
	H264NALSTAPA  = 24 // single-time aggregation packet
	H264NALFUA    = 28 // fragmentation unit
)

// SplitAVCC iterates over the NAL units of an AVCC sample (each prefixed by its length in
// 4 bytes, as in MP4/fMP4); it stops at a length that runs past the end.
func SplitAVCC(sample []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(sample) >= 4 {
			n := int(binary.BigEndian.Uint32(sample))
			if n > len(sample)-4 {
				return
			}
			if !yield(sample[4 : 4+n]) {
				return
			}
			sample = sample[4+n:]
		}
	}
}

// H264ParameterSets returns the first SPS and the first PPS among nals (nil for one that is
// missing); empty NAL units are skipped. The results point into the NAL units.
func H264ParameterSets(nals iter.Seq[[]byte]) (sps, pps []byte) {
	for nal := range nals {
		if len(nal) == 0 {
			continue
		}
		switch nal[0] & nalTypeMask {
		case H264NALSPS:
			if sps == nil {
				sps = nal
			}
		case H264NALPPS:
			if pps == nil {
				pps = nal
			}
		}
	}
	return sps, pps
}

// H264ParamSets keeps a stream's latest SPS and PPS, to put in front of an IDR access unit
// that comes without them: a receiver that starts there (a viewer joining, a new HLS
// segment) can then decode it.
type H264ParamSets struct {
	SPS, PPS []byte
}

// Keep remembers a copy of nal when it is an SPS or a PPS.
func (p *H264ParamSets) Keep(nal []byte) {
	if len(nal) == 0 {
		return
	}
	switch nal[0] & nalTypeMask {
	case H264NALSPS:
		p.SPS = append(p.SPS[:0:0], nal...)
	case H264NALPPS:
		p.PPS = append(p.PPS[:0:0], nal...)
	}
}

// Missing appends to dst the kept parameter sets that au (an access unit's NAL units) lacks
// when it holds an IDR slice, SPS first, and reports whether it does.
func (p *H264ParamSets) Missing(dst, au [][]byte) (_ [][]byte, idr bool) {
	hasSPS, hasPPS := false, false
	for _, nal := range au {
		if len(nal) == 0 {
			continue
		}
		switch nal[0] & nalTypeMask {
		case H264NALIDR:
			idr = true
		case H264NALSPS:
			hasSPS = true
		case H264NALPPS:
			hasPPS = true
		}
	}
	if idr && !hasSPS && p.SPS != nil {
		dst = append(dst, p.SPS)
	}
	if idr && !hasPPS && p.PPS != nil {
		dst = append(dst, p.PPS)
	}
	return dst, idr
}
