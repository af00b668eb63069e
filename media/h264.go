package media

import (
	"encoding/binary"
	"iter"
)

// H.264 NAL unit helpers shared by whoever reads access units: the MP4 form (AVCC, each NAL
// unit behind its 4-byte length) and the parameter sets of an access unit. SplitAnnexB, for
// the start-code form, is with the capture-time SEI it was written for.

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
