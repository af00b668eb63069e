package sfu

// Simulcast layers are independent VP8 encodings: each numbers its pictures (PictureID),
// its base-layer pictures (TL0PICIDX) and its keyframes (KEYIDX) on its own (RFC 7741 §4.2).
// A viewer switched from one layer to another would see these numbers jump, also backwards,
// and a receiver that orders or drops frames by them (libwebrtc does) may stall. vp8Munger
// rewrites them, like munger does the sequence numbers and timestamps, so that every viewer
// sees one continuous stream.

// vp8Descriptor locates the fields of a VP8 payload descriptor that an SFU rewrites or
// reads; an offset of 0 means the field is absent.
type vp8Descriptor struct {
	picOff int  // PictureID
	pic15  bool // PictureID is 15 bits wide (M bit), else 7
	tl0Off int  // TL0PICIDX
	tkOff  int  // the TID / Y / KEYIDX byte
	hasTID bool // T bit: the TID field is meaningful
	hasKey bool // K bit: the KEYIDX field is meaningful
}

// VP8 payload descriptor bits (RFC 7741 §4.2).
const (
	vp8X = 0x80 // first byte: extended control bits present
	vp8I = 0x80 // extension byte: PictureID present
	vp8L = 0x40 // TL0PICIDX present
	vp8T = 0x20 // TID present
	vp8K = 0x10 // KEYIDX present
	vp8M = 0x80 // first PictureID byte: 15-bit PictureID
)

// parseVP8Descriptor finds the optional fields of p's payload descriptor; ok is false when
// p is too short for the fields it announces.
func parseVP8Descriptor(p []byte) (d vp8Descriptor, ok bool) {
	if len(p) < 1 {
		return d, false
	}
	if p[0]&vp8X == 0 {
		return d, true
	}
	if len(p) < 2 {
		return d, false
	}
	ext, off := p[1], 2
	if ext&vp8I != 0 {
		if len(p) <= off {
			return d, false
		}
		d.picOff, d.pic15 = off, p[off]&vp8M != 0
		off++
		if d.pic15 {
			off++
		}
	}
	if ext&vp8L != 0 {
		d.tl0Off = off
		off++
	}
	if ext&(vp8T|vp8K) != 0 {
		d.tkOff, d.hasTID, d.hasKey = off, ext&vp8T != 0, ext&vp8K != 0
		off++
	}
	if off > len(p) {
		return vp8Descriptor{}, false
	}
	return d, true
}

// tid returns the packet's temporal layer index, and false when it has none.
func (d vp8Descriptor) tid(p []byte) (uint8, bool) {
	if !d.hasTID {
		return 0, false
	}
	return p[d.tkOff] >> 6, true
}

// wrapCounter keeps one wrapping field (PictureID, TL0PICIDX, KEYIDX) continuous: within an
// epoch the outgoing value moves exactly as the source's does; the first value of a new
// epoch follows the last outgoing one by one. lastOut runs on 16 bits; values go out masked
// to the field's width.
type wrapCounter struct {
	started bool
	rebase  bool
	lastSrc uint16
	lastOut uint16
}

// next maps a source value of a field bits wide to the outgoing value.
func (c *wrapCounter) next(src uint16, bits uint) uint16 {
	mask := uint16(1)<<bits - 1
	src &= mask
	switch {
	case !c.started:
		c.started, c.rebase = true, false
		c.lastSrc, c.lastOut = src, src
		return src
	case c.rebase:
		c.rebase = false
		c.lastSrc, c.lastOut = src, c.lastOut+1
		return c.lastOut & mask
	}
	if ahead := (src - c.lastSrc) & mask; ahead < 1<<(bits-1) {
		c.lastSrc, c.lastOut = src, c.lastOut+ahead
		return c.lastOut & mask
	}
	return (c.lastOut - (c.lastSrc-src)&mask) & mask // an older packet (reordered, resent)
}

// vp8Munger rewrites one viewer's VP8 PictureID, TL0PICIDX and KEYIDX in place.
type vp8Munger struct {
	pic, tl0, key wrapCounter
}

// vp8Numbers are the values a packet went out with, kept per outgoing sequence number so
// that a retransmission carries exactly them.
type vp8Numbers struct {
	seq           uint16 // outgoing sequence number they belong to
	pic           uint16
	tl0, key      uint8
	valid, hasPic bool
}

// rebase starts a new epoch (another source, or a skip to a keyframe of the same one): the
// next values follow the last ones sent.
func (v *vp8Munger) rebase() {
	v.pic.rebase, v.tl0.rebase, v.key.rebase = true, true, true
}

// rewrite rewrites the descriptor of payload (the viewer's own copy) in place and returns
// the values written; a packet without the fields is left as it is. It allocates nothing.
func (v *vp8Munger) rewrite(payload []byte) vp8Numbers {
	d, ok := parseVP8Descriptor(payload)
	if !ok {
		return vp8Numbers{}
	}
	return v.rewriteParsed(payload, d)
}

func (v *vp8Munger) rewriteParsed(p []byte, d vp8Descriptor) vp8Numbers {
	n := vp8Numbers{valid: true}
	if d.picOff != 0 {
		if d.pic15 {
			src := uint16(p[d.picOff]&0x7f)<<8 | uint16(p[d.picOff+1])
			n.pic = v.pic.next(src, 15)
		} else {
			n.pic = v.pic.next(uint16(p[d.picOff]), 7)
		}
		n.hasPic = true
	}
	if d.tl0Off != 0 {
		n.tl0 = uint8(v.tl0.next(uint16(p[d.tl0Off]), 8))
	}
	if d.hasKey {
		n.key = uint8(v.key.next(uint16(p[d.tkOff]&0x1f), 5))
	}
	n.write(p, d)
	return n
}

// write puts the values into the descriptor d of p.
func (n vp8Numbers) write(p []byte, d vp8Descriptor) {
	if d.picOff != 0 && n.hasPic {
		if d.pic15 {
			p[d.picOff], p[d.picOff+1] = vp8M|byte(n.pic>>8&0x7f), byte(n.pic)
		} else {
			p[d.picOff] = byte(n.pic & 0x7f)
		}
	}
	if d.tl0Off != 0 {
		p[d.tl0Off] = n.tl0
	}
	if d.hasKey {
		p[d.tkOff] = p[d.tkOff]&^0x1f | n.key&0x1f
	}
}

// skip accounts for a picture that is not forwarded (a dropped temporal layer): the next
// forwarded picture gets the next PictureID, so the viewer sees no gap (RFC 7741 §4.2 lets an
// SFU that drops frames rewrite PictureID). TL0PICIDX and KEYIDX are the dropped picture's
// base layer's and go on unchanged.
func (v *vp8Munger) skip(p []byte, d vp8Descriptor) {
	if d.picOff == 0 || !v.pic.started || v.pic.rebase {
		return
	}
	var src uint16
	bits := uint(7)
	if d.pic15 {
		src, bits = uint16(p[d.picOff]&0x7f)<<8|uint16(p[d.picOff+1]), 15
	} else {
		src = uint16(p[d.picOff])
	}
	mask := uint16(1)<<bits - 1
	if ahead := (src - v.pic.lastSrc) & mask; ahead != 0 && ahead < 1<<(bits-1) {
		v.pic.lastSrc, v.pic.lastOut = src, v.pic.lastOut+ahead-1 // everything up to it, less itself
	}
}
