package hls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/glint-video/glint/media"
)

// initSection is an encoded init segment, valid from media sequence number id on.
type initSection struct {
	id   uint64
	data []byte
	key  []byte // video: the SPS (AV1: sequence header) it was made from, to notice in-band changes
}

// newAudioInit builds an init segment with one mp4a track (esds carrying the ASC).
func newAudioInit(id uint64, info AudioTrackInfo) (*initSection, error) {
	init := mp4.CreateEmptyInit()
	init.AddEmptyTrack(uint32(info.SampleRate), "audio", "und")
	rate := min(info.SampleRate, 65535) // the sample entry's field is 16.16; the timescale is exact
	entry := mp4.CreateAudioSampleEntryBox("mp4a", uint16(info.Channels), 16, uint16(rate), mp4.CreateEsdsBox(info.ASC))
	init.Moov.Trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	data, err := encodeBox(init)
	if err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	return &initSection{id: id, data: data}, nil
}

func encodeBox(b interface{ Encode(w io.Writer) error }) ([]byte, error) {
	var buf bytes.Buffer
	err := b.Encode(&buf)
	return buf.Bytes(), err
}

// encodeFragment returns one moof+mdat holding samples, numbered seq.
func encodeFragment(seq uint32, samples []mp4.FullSample) ([]byte, error) {
	frag, err := mp4.CreateFragment(seq, 1)
	if err != nil {
		return nil, err
	}
	size := 0
	for _, s := range samples {
		frag.AddFullSample(s)
		size += len(s.Data)
	}
	var buf bytes.Buffer
	buf.Grow(size + 64 + 16*len(samples))
	if err := frag.Encode(&buf); err != nil {
		return nil, fmt.Errorf("fragment: %w", err)
	}
	return buf.Bytes(), nil
}

// fullSample describes one packaged sample for mp4ff.
func fullSample(data []byte, decode uint64, dur uint32, cto int32, sync bool) mp4.FullSample {
	flags := mp4.NonSyncSampleFlags
	if sync {
		flags = mp4.SyncSampleFlags
	}
	return mp4.FullSample{
		Sample:     mp4.NewSample(flags, dur, uint32(len(data)), cto),
		DecodeTime: decode,
		Data:       data,
	}
}

var errNotAVCC = errors.New("not an H.264/H.265 access unit in length-prefixed or Annex-B form")

// toAVCC returns an access unit in AVCC form: data itself when its 4-byte lengths cover it
// exactly, or data converted from Annex-B start codes.
func toAVCC(data []byte) ([]byte, error) {
	if isAVCC(data) {
		return data, nil
	}
	if bytes.HasPrefix(data, []byte{0, 0, 1}) || bytes.HasPrefix(data, []byte{0, 0, 0, 1}) {
		var out []byte
		for _, nalu := range avc.ExtractNalusFromByteStream(data) {
			if len(nalu) == 0 {
				continue
			}
			out = binary.BigEndian.AppendUint32(out, uint32(len(nalu)))
			out = append(out, nalu...)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, errNotAVCC
}

func isAVCC(data []byte) bool {
	for len(data) > 0 {
		if len(data) < 5 {
			return false
		}
		n := binary.BigEndian.Uint32(data)
		if n == 0 || uint64(n) > uint64(len(data)-4) || data[4]&0x80 != 0 { // forbidden_zero_bit
			return false
		}
		data = data[4+n:]
	}
	return true
}

// toTicks is media.Ticks for hls's unsigned tick counts: a negative duration is 0 ticks.
func toTicks(d time.Duration, timescale uint32) uint64 {
	return uint64(max(media.Ticks(d, timescale), 0))
}

// ticksDur is media.Duration for hls's unsigned tick counts.
func ticksDur(ticks uint64, timescale uint32) time.Duration {
	return media.Duration(int64(ticks), timescale)
}
