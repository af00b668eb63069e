package media

import "errors"

// VP8Descriptor is the VP8 payload descriptor of one RTP packet (RFC 7741 §4.2) and the
// keyframe bit of the VP8 payload header that follows it. The offsets it keeps let an SFU
// rewrite PictureID, TL0PICIDX and KEYIDX in place (SetPictureID, SetTL0PICIDX, SetKeyIdx).
type VP8Descriptor struct {
	Extended     bool  // X: the extension byte is present
	NonReference bool  // N: no other frame depends on this one
	Start        bool  // S: the packet starts a VP8 partition
	PartitionID  uint8 // PID: the partition the packet carries (0: the first)

	HasPictureID bool   // I
	PictureID15  bool   // M: PictureID is 15 bits wide, else 7
	PictureID    uint16 // without the M bit
	HasTL0PICIDX bool   // L
	TL0PICIDX    uint8
	HasTID       bool  // T: TID and Y are meaningful
	TID          uint8 // temporal layer index
	LayerSync    bool  // Y: the frame depends only on base-layer (TID 0) frames
	HasKeyIdx    bool  // K
	KeyIdx       uint8 // KEYIDX, 5 bits

	// Size is the descriptor's length: the VP8 payload (header first) starts there.
	Size int
	// Keyframe: the packet starts a keyframe (S, partition 0, and the P bit of the VP8
	// payload header clear, RFC 7741 §4.3).
	Keyframe bool

	picOff, tl0Off, tkOff uint8 // where the fields sit (0: absent)
}

// ErrVP8Short is returned for a payload too short for the descriptor fields it announces.
var ErrVP8Short = errors.New("vp8: payload descriptor cut short")

// VP8 payload descriptor bits (RFC 7741 §4.2).
const (
	vp8X   = 0x80 // first byte: extension byte present
	vp8N   = 0x20 // first byte: non-reference frame
	vp8S   = 0x10 // first byte: start of a partition
	vp8PID = 0x07 // first byte: partition index
	vp8I   = 0x80 // extension byte: PictureID present
	vp8L   = 0x40 // extension byte: TL0PICIDX present
	vp8T   = 0x20 // extension byte: TID present
	vp8K   = 0x10 // extension byte: KEYIDX present
	vp8M   = 0x80 // first PictureID byte: 15-bit PictureID
	vp8Y   = 0x20 // TID/Y/KEYIDX byte: layer sync
	vp8Key = 0x1f // TID/Y/KEYIDX byte: KEYIDX
)

// ParseVP8Descriptor reads the payload descriptor at the start of an RTP payload. It
// allocates nothing; the error is ErrVP8Short when p cannot hold the fields it announces.
func ParseVP8Descriptor(p []byte) (VP8Descriptor, error) {
	var d VP8Descriptor
	if len(p) < 1 {
		return VP8Descriptor{}, ErrVP8Short
	}
	d.Extended, d.NonReference, d.Start = p[0]&vp8X != 0, p[0]&vp8N != 0, p[0]&vp8S != 0
	d.PartitionID = p[0] & vp8PID
	off := 1
	if d.Extended {
		if len(p) < 2 {
			return VP8Descriptor{}, ErrVP8Short
		}
		var ok bool
		if off, ok = d.parseExtension(p); !ok {
			return VP8Descriptor{}, ErrVP8Short
		}
	}
	d.Size = off
	d.Keyframe = d.Start && d.PartitionID == 0 && len(p) > off && p[off]&0x01 == 0
	return d, nil
}

// parseExtension reads the fields the extension byte p[1] announces; it returns the
// descriptor's size, and false when p is too short for them.
func (d *VP8Descriptor) parseExtension(p []byte) (int, bool) {
	ext, off := p[1], 2
	if ext&vp8I != 0 {
		if len(p) <= off {
			return 0, false
		}
		d.HasPictureID, d.PictureID15, d.picOff = true, p[off]&vp8M != 0, uint8(off)
		if d.PictureID15 {
			if len(p) <= off+1 {
				return 0, false
			}
			d.PictureID = uint16(p[off]&0x7f)<<8 | uint16(p[off+1])
			off += 2
		} else {
			d.PictureID = uint16(p[off])
			off++
		}
	}
	if ext&vp8L != 0 {
		if len(p) <= off {
			return 0, false
		}
		d.HasTL0PICIDX, d.TL0PICIDX, d.tl0Off = true, p[off], uint8(off)
		off++
	}
	if ext&(vp8T|vp8K) != 0 {
		if len(p) <= off {
			return 0, false
		}
		b := p[off]
		d.HasTID, d.HasKeyIdx, d.tkOff = ext&vp8T != 0, ext&vp8K != 0, uint8(off)
		if d.HasTID {
			d.TID, d.LayerSync = b>>6, b&vp8Y != 0
		}
		if d.HasKeyIdx {
			d.KeyIdx = b & vp8Key
		}
		off++
	}
	return off, true
}

// PictureIDBits is the width of the PictureID field: 15, 7, or 0 when it is absent.
func (d VP8Descriptor) PictureIDBits() uint {
	switch {
	case !d.HasPictureID:
		return 0
	case d.PictureID15:
		return 15
	}
	return 7
}

// SetPictureID writes id into p, the payload d was parsed from, at the field's own width.
func (d VP8Descriptor) SetPictureID(p []byte, id uint16) {
	if !d.HasPictureID {
		return
	}
	if d.PictureID15 {
		p[d.picOff], p[d.picOff+1] = vp8M|byte(id>>8&0x7f), byte(id)
		return
	}
	p[d.picOff] = byte(id & 0x7f)
}

// SetTL0PICIDX writes v into p, the payload d was parsed from, when the field is present.
func (d VP8Descriptor) SetTL0PICIDX(p []byte, v uint8) {
	if d.HasTL0PICIDX {
		p[d.tl0Off] = v
	}
}

// SetKeyIdx writes the 5-bit v into p, the payload d was parsed from, when KEYIDX is present.
func (d VP8Descriptor) SetKeyIdx(p []byte, v uint8) {
	if d.HasKeyIdx {
		p[d.tkOff] = p[d.tkOff]&^vp8Key | v&vp8Key
	}
}
