package sfu

import "github.com/glint-video/glint/media"

// Simulcast layers are independent VP8 encodings: each numbers its pictures (PictureID),
// its base-layer pictures (TL0PICIDX) and its keyframes (KEYIDX) on its own (RFC 7741 §4.2).
// A viewer switched from one layer to another would see these numbers jump, also backwards,
// and a receiver that orders or drops frames by them (libwebrtc does) may stall. vp8Munger
// rewrites them, like munger does the sequence numbers and timestamps, so that every viewer
// sees one continuous stream.

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
	d, err := media.ParseVP8Descriptor(payload)
	if err != nil {
		return vp8Numbers{}
	}
	return v.rewriteParsed(payload, d)
}

// rewriteParsed is rewrite for a payload p whose descriptor d is parsed already.
func (v *vp8Munger) rewriteParsed(p []byte, d media.VP8Descriptor) vp8Numbers {
	n := vp8Numbers{valid: true}
	if d.HasPictureID {
		n.pic, n.hasPic = v.pic.next(d.PictureID, d.PictureIDBits()), true
	}
	if d.HasTL0PICIDX {
		n.tl0 = uint8(v.tl0.next(uint16(d.TL0PICIDX), 8))
	}
	if d.HasKeyIdx {
		n.key = uint8(v.key.next(uint16(d.KeyIdx), 5))
	}
	n.write(p, d)
	return n
}

// write puts the values into the descriptor d of p.
func (n vp8Numbers) write(p []byte, d media.VP8Descriptor) {
	if n.hasPic {
		d.SetPictureID(p, n.pic)
	}
	d.SetTL0PICIDX(p, n.tl0)
	d.SetKeyIdx(p, n.key)
}

// skip accounts for a picture that is not forwarded (a dropped temporal layer): the next
// forwarded picture gets the next PictureID, so the viewer sees no gap (RFC 7741 §4.2 lets an
// SFU that drops frames rewrite PictureID). TL0PICIDX and KEYIDX are the dropped picture's
// base layer's and go on unchanged.
func (v *vp8Munger) skip(d media.VP8Descriptor) {
	if !d.HasPictureID || !v.pic.started || v.pic.rebase {
		return
	}
	bits := d.PictureIDBits()
	mask := uint16(1)<<bits - 1
	if ahead := (d.PictureID - v.pic.lastSrc) & mask; ahead != 0 && ahead < 1<<(bits-1) {
		v.pic.lastSrc, v.pic.lastOut = d.PictureID, v.pic.lastOut+ahead-1 // everything up to it, less itself
	}
}
