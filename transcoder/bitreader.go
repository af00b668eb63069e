package transcoder

import "errors"

var errShortRBSP = errors.New("transcoder: H.264 header truncated")

// unescapeRBSP removes emulation prevention bytes (00 00 03 → 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// bitReader reads H.264 RBSP fields; the first read past the end sets err and yields zeros.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

func newBitReader(b []byte) *bitReader { return &bitReader{b: b} }

func (r *bitReader) u(n int) int {
	v := 0
	for i := 0; i < n; i++ {
		if r.pos >= len(r.b)*8 {
			r.err = errShortRBSP
			return 0
		}
		bit := int(r.b[r.pos/8]>>(7-uint(r.pos%8))) & 1
		v = v<<1 | bit
		r.pos++
	}
	return v
}

// ue reads an unsigned Exp-Golomb code (capped at 31 leading zeros).
func (r *bitReader) ue() int {
	zeros := 0
	for r.u(1) == 0 {
		if r.err != nil || zeros == 31 {
			r.err = errShortRBSP
			return 0
		}
		zeros++
	}
	return (1<<zeros - 1) + r.u(zeros)
}

func (r *bitReader) se() int {
	k := r.ue()
	if k%2 == 1 {
		return (k + 1) / 2
	}
	return -k / 2
}

func (r *bitReader) skipScalingLists(count int) {
	for i := 0; i < count && r.err == nil; i++ {
		if r.u(1) == 0 {
			continue
		}
		size := 16
		if i >= 6 {
			size = 64
		}
		last, next := 8, 8
		for j := 0; j < size && r.err == nil; j++ {
			if next != 0 {
				next = (last + r.se() + 256) % 256
			}
			if next != 0 {
				last = next
			}
		}
	}
}

// vuiReorder parses VUI parameters up to max_num_reorder_frames (ok false without
// bitstream_restriction_flag).
func (r *bitReader) vuiReorder() (int, bool) {
	if r.u(1) == 1 { // aspect_ratio_info_present_flag
		if r.u(8) == 255 {
			r.u(16)
			r.u(16)
		}
	}
	if r.u(1) == 1 { // overscan_info_present_flag
		r.u(1)
	}
	if r.u(1) == 1 { // video_signal_type_present_flag
		r.u(4)
		if r.u(1) == 1 {
			r.u(24)
		}
	}
	if r.u(1) == 1 { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if r.u(1) == 1 { // timing_info_present_flag
		r.u(32)
		r.u(32)
		r.u(1)
	}
	nal := r.u(1) == 1 && r.skipHRD()
	vcl := r.u(1) == 1 && r.skipHRD()
	if nal || vcl {
		r.u(1) // low_delay_hrd_flag
	}
	r.u(1) // pic_struct_present_flag
	if r.u(1) == 0 || r.err != nil {
		return 0, false
	}
	r.u(1)
	r.ue()
	r.ue()
	r.ue()
	r.ue()
	return r.ue(), r.err == nil
}

// skipHRD skips hrd_parameters and returns true.
func (r *bitReader) skipHRD() bool {
	n := r.ue() + 1
	r.u(8)
	for i := 0; i < n && i < 32 && r.err == nil; i++ {
		r.ue()
		r.ue()
		r.u(1)
	}
	r.u(20)
	return true
}
