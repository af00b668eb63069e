package llhls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// videoInit is what the viewer needs of an init segment: the video track and its
// defaults.
type videoInit struct {
	trackID   uint32
	timescale uint32
	trex      *mp4.TrexBox // nil when the init segment has none for the track
}

// parseInit reads the video track of an fMP4 init segment.
func parseInit(data []byte) (videoInit, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		return videoInit{}, fmt.Errorf("decode init segment: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil {
		return videoInit{}, errors.New("init segment without moov")
	}
	for _, trak := range f.Init.Moov.Traks {
		if trak.Mdia == nil || trak.Mdia.Hdlr == nil || trak.Mdia.Hdlr.HandlerType != "vide" ||
			trak.Tkhd == nil || trak.Mdia.Mdhd == nil || trak.Mdia.Mdhd.Timescale == 0 {
			continue
		}
		vi := videoInit{trackID: trak.Tkhd.TrackID, timescale: trak.Mdia.Mdhd.Timescale}
		if mvex := f.Init.Moov.Mvex; mvex != nil {
			for _, t := range mvex.Trexs {
				if t.TrackID == vi.trackID {
					vi.trex = t
				}
			}
		}
		return vi, nil
	}
	return videoInit{}, errors.New("init segment without a video track")
}

// sampleInfo is one video sample of a fragment; data points into the fragment's bytes.
type sampleInfo struct {
	data     []byte
	decode   uint64 // decode time in track ticks
	cto      int32  // composition time offset in ticks
	keyframe bool
}

// walkFragments calls fn for every sample of the video track in the moof+mdat pairs of
// data (a part or a whole segment), in order. It returns how many samples it reported.
func walkFragments(data []byte, vi videoInit, fn func(sampleInfo)) (int, error) {
	n := 0
	for off := 0; off < len(data); {
		size, _, typ, err := boxHeader(data[off:])
		if err != nil {
			return n, err
		}
		if typ == "moof" {
			box, err := mp4.DecodeBoxSR(uint64(off), bits.NewFixedSliceReader(data[off:off+size]))
			if err != nil {
				return n, fmt.Errorf("decode moof: %w", err)
			}
			moof, ok := box.(*mp4.MoofBox)
			if !ok {
				return n, errors.New("moof box of another type")
			}
			k, err := walkMoof(data, off, moof, vi, fn)
			n += k
			if err != nil {
				return n, err
			}
		}
		off += size
	}
	return n, nil
}

// walkMoof reports the video samples one moof describes; moofStart is its offset in data.
func walkMoof(data []byte, moofStart int, moof *mp4.MoofBox, vi videoInit, fn func(sampleInfo)) (int, error) {
	n := 0
	for _, traf := range moof.Trafs {
		if traf.Tfhd == nil || traf.Tfhd.TrackID != vi.trackID {
			continue
		}
		var decode uint64
		if traf.Tfdt != nil {
			decode = traf.Tfdt.BaseMediaDecodeTime()
		}
		base := int64(moofStart)
		if traf.Tfhd.HasBaseDataOffset() {
			base = int64(traf.Tfhd.BaseDataOffset)
		}
		pos := base
		for i, trun := range traf.Truns {
			trun.AddSampleDefaultValues(traf.Tfhd, vi.trex)
			if trun.HasDataOffset() {
				pos = base + int64(trun.DataOffset)
			} else if i == 0 {
				pos = base
			}
			first, hasFirst := trun.FirstSampleFlags()
			for j, s := range trun.Samples {
				end := pos + int64(s.Size)
				if pos < 0 || end > int64(len(data)) {
					return n, fmt.Errorf("sample %d of %d bytes at %d outside the fragment (%d bytes)", j, s.Size, pos, len(data))
				}
				flags := s.Flags
				if j == 0 && hasFirst {
					flags = first
				}
				fn(sampleInfo{data: data[pos:end:end], decode: decode, cto: s.CompositionTimeOffset,
					keyframe: flags&sampleIsNonSync == 0})
				n++
				pos, decode = end, decode+uint64(s.Dur)
			}
		}
	}
	return n, nil
}

// sampleIsNonSync is the sample_is_non_sync_sample bit of ISO/IEC 14496-12 sample flags.
const sampleIsNonSync = 1 << 16

// boxHeader reads the size, header length and type of the box at the start of b.
func boxHeader(b []byte) (size, hdr int, typ string, err error) {
	if len(b) < 8 {
		return 0, 0, "", fmt.Errorf("truncated box header (%d bytes)", len(b))
	}
	sz, hdr := uint64(binary.BigEndian.Uint32(b)), 8
	typ = string(b[4:8])
	switch sz {
	case 0:
		sz = uint64(len(b))
	case 1:
		if len(b) < 16 {
			return 0, 0, "", errors.New("truncated large box header")
		}
		sz, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if sz < uint64(hdr) || sz > uint64(len(b)) {
		return 0, 0, "", fmt.Errorf("box %q of %d bytes does not fit the %d bytes left", typ, sz, len(b))
	}
	return int(sz), hdr, typ, nil
}
