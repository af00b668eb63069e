package transcoder

import (
	"errors"

	"github.com/glint-video/glint/media"
)

// forEachNAL calls fn with every NAL unit (without start code) of an Annex-B buffer, stopping
// when fn returns false.
func forEachNAL(b []byte, fn func(nal []byte) bool) {
	for nal := range media.SplitAnnexB(b) {
		if !fn(nal) {
			return
		}
	}
}

// hasIDR reports whether an Annex-B access unit contains an IDR slice.
func hasIDR(au []byte) bool {
	found := false
	forEachNAL(au, func(nal []byte) bool {
		found = len(nal) > 0 && nal[0]&0x1f == media.H264NALIDR
		return !found
	})
	return found
}

// hasIRAP reports whether an Annex-B H.265 access unit contains an IRAP picture's slice
// (BLA, IDR or CRA: NAL unit types 16 to 21), where decoding can start.
func hasIRAP(au []byte) bool {
	found := false
	forEachNAL(au, func(nal []byte) bool {
		found = len(nal) > 1 && nal[0]>>1&0x3f >= 16 && nal[0]>>1&0x3f <= 21
		return !found
	})
	return found
}

// HasBFrames reports whether an H.264 access unit (Annex-B) contains a B slice. A stream
// whose access units never do, and whose SPS allows no reordering, is WebRTC-safe as it is.
func HasBFrames(au []byte) bool {
	found := false
	forEachNAL(au, func(nal []byte) bool {
		if len(nal) < 2 || (nal[0]&0x1f != media.H264NALSlice && nal[0]&0x1f != media.H264NALIDR) {
			return true
		}
		br := newBitReader(unescapeRBSP(nal[1:min(len(nal), 24)]))
		br.ue() // first_mb_in_slice
		st := br.ue()
		found = br.err == nil && st%5 == 1
		return !found
	})
	return found
}

// SPSMaxReorderFrames returns max_num_reorder_frames of an H.264 SPS NAL unit (without
// start code). known is false when the SPS does not say (no VUI bitstream_restriction and a
// profile that may use B-frames); 0 with known true means output order equals decode order.
func SPSMaxReorderFrames(sps []byte) (n int, known bool, err error) {
	if len(sps) < 4 || sps[0]&0x1f != media.H264NALSPS {
		return 0, false, errors.New("transcoder: not an SPS NAL unit")
	}
	profile := sps[1]
	br := newBitReader(unescapeRBSP(sps[4:]))
	br.ue() // seq_parameter_set_id
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		if br.ue() == 3 { // chroma_format_idc
			br.u(1)
		}
		br.ue()
		br.ue()
		br.u(1)
		if br.u(1) == 1 { // seq_scaling_matrix_present_flag
			br.skipScalingLists(8)
		}
	}
	br.ue() // log2_max_frame_num_minus4
	pocType := br.ue()
	switch pocType {
	case 0:
		br.ue()
	case 1:
		br.u(1)
		br.se()
		br.se()
		for i, c := 0, br.ue(); i < c && br.err == nil; i++ {
			br.se()
		}
	}
	br.ue()           // max_num_ref_frames
	br.u(1)           // gaps_in_frame_num_value_allowed_flag
	br.ue()           // pic_width_in_mbs_minus1
	br.ue()           // pic_height_in_map_units_minus1
	if br.u(1) == 0 { // frame_mbs_only_flag
		br.u(1)
	}
	br.u(1)           // direct_8x8_inference_flag
	if br.u(1) == 1 { // frame_cropping_flag
		br.ue()
		br.ue()
		br.ue()
		br.ue()
	}
	noReorder := profile == 66 || pocType == 2
	if br.u(1) == 1 { // vui_parameters_present_flag
		if n, ok := br.vuiReorder(); ok && br.err == nil {
			return n, true, nil
		}
	}
	if br.err != nil {
		return 0, false, br.err
	}
	return 0, noReorder, nil
}

// BFrameDetector decides whether an H.264 stream uses B-frames, from its SPS (VUI
// max_num_reorder_frames), B slices, or presentation times going backwards in decode order.
// Feed access units in decode order with PTS set; the zero value is ready to use.
type BFrameDetector struct {
	frames, idrs   int
	lastPTS        int64
	decided, hasB  bool
	spsSaysNoOrder bool
}

// Observe feeds one access unit and returns the verdict so far; once decided is true the
// verdict no longer changes. Without B slices the verdict is "no B-frames" after the SPS says
// so and one GOP confirms it, or after two full GOPs / 300 frames otherwise.
func (d *BFrameDetector) Observe(au Encoded) (hasB, decided bool) {
	if d.decided {
		return d.hasB, true
	}
	pts := int64(au.PTS)
	if HasBFrames(au.Data) || (d.frames > 0 && pts < d.lastPTS) {
		d.hasB, d.decided = true, true
		return true, true
	}
	d.lastPTS = pts
	d.frames++
	forEachNAL(au.Data, func(nal []byte) bool {
		switch {
		case len(nal) > 0 && nal[0]&0x1f == media.H264NALSPS:
			if n, known, err := SPSMaxReorderFrames(nal); err == nil && known && n == 0 {
				d.spsSaysNoOrder = true
			}
		case len(nal) > 0 && nal[0]&0x1f == media.H264NALIDR:
			d.idrs++
			return false
		}
		return true
	})
	if (d.spsSaysNoOrder && d.idrs >= 2) || d.idrs >= 3 || d.frames >= 300 {
		d.decided = true
	}
	return d.hasB, d.decided
}
