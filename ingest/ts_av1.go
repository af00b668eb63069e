package ingest

// AV1 in MPEG-TS, per AOM's "Carriage of AV1 in MPEG-2 TS": an elementary stream of
// stream_type 0x06 (private data) whose PMT entry has a registration descriptor 'AV01' (and,
// usually, the AV1 video descriptor, tag 0x80); each PES carries one access unit whose OBUs
// are each preceded by the start code 0x000001 and escaped against start-code emulation
// (0x000003, as in H.264 Annex B).
//
// Hand-written because the MPEG-TS demuxer ingest uses (mediacommon v2.9.3) has no AV1 codec:
// it reports such a stream as Unsupported and keeps its descriptors to itself, and no other
// maintained Go package reads the start-code format (it is neither H.264 Annex B, whose units
// are NAL units, nor AV1's own low-overhead format). go-astits, which mediacommon builds on,
// reads the PMT's descriptors; mediacommon still demuxes the PES packets, with the other tracks.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/asticode/go-astits"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/glint-video/glint/media"
)

const (
	av1FormatIdentifier   = 'A'<<24 | 'V'<<16 | '0'<<8 | '1' // the registration descriptor's format_identifier
	av1VideoDescriptorTag = 0x80
	obuHasSizeField       = 0x02 // in the first OBU header byte
	obuExtensionFlag      = 0x04
	obuForbiddenBit       = 0x80
)

// av1TSVideo is what an AV1 elementary stream's PMT entry declares (its AV1 video
// descriptor; zero when the entry has none).
type av1TSVideo struct {
	described bool
	profile   uint8 // seq_profile: 0 Main, 1 High, 2 Professional
	level     uint8 // seq_level_idx_0
	tier      uint8 // seq_tier_0
	bitDepth  int   // 8, 10 or 12
	mono      bool
	hdrWCG    uint8 // hdr_wcg_idc: 0 SDR, 1 WCG, 2 HDR and WCG, 3 not indicated
}

// parseAV1VideoDescriptor reads an AV1_video_descriptor's body (the 4 bytes after its tag
// and length).
func parseAV1VideoDescriptor(b []byte) (av1TSVideo, error) {
	if len(b) < 4 {
		return av1TSVideo{}, fmt.Errorf("AV1 video descriptor of %d bytes, want 4", len(b))
	}
	if b[0]&0x80 == 0 || b[0]&0x7f == 0 {
		return av1TSVideo{}, fmt.Errorf("AV1 video descriptor: marker %d, version %d; want marker 1, version 1", b[0]>>7, b[0]&0x7f)
	}
	d := av1TSVideo{described: true, profile: b[1] >> 5, level: b[1] & 0x1f, tier: b[2] >> 7, bitDepth: 8,
		mono: b[2]&0x10 != 0, hdrWCG: b[3] >> 6}
	if b[2]&0x40 != 0 { // high_bitdepth
		d.bitDepth = 10
		if b[2]&0x20 != 0 { // twelve_bit
			d.bitDepth = 12
		}
	}
	if d.profile > 2 {
		return av1TSVideo{}, fmt.Errorf("AV1 video descriptor: seq_profile %d (AV1 has profiles 0 to 2)", d.profile)
	}
	return d, nil
}

// tsPrivate is what a PMT says of its private-data streams (stream type 0x06) that
// mediacommon does not read.
type tsPrivate struct {
	av1 map[uint16]av1TSVideo // AV1 streams by PID
	// bare are streams without any descriptor: how FFmpeg 5.1 writes AV1 (and any codec it
	// has no MPEG-TS mapping for), which no demuxer can tell from other private data.
	bare map[uint16]bool
}

// findPrivateStreams reads the first PMT in probe (the bytes the MPEG-TS reader took while it
// found its program) for its AV1 and bare private-data streams.
func findPrivateStreams(probe []byte) (tsPrivate, error) {
	dmx := astits.NewDemuxer(context.Background(), bytes.NewReader(probe))
	for {
		data, err := dmx.NextData()
		if err != nil {
			return tsPrivate{}, nil // no PMT that go-astits reads: no AV1 stream found
		}
		if data.PMT == nil {
			continue
		}
		found := tsPrivate{av1: map[uint16]av1TSVideo{}, bare: map[uint16]bool{}}
		for _, es := range data.PMT.ElementaryStreams {
			switch {
			case es.StreamType != astits.StreamTypePrivateData:
			case len(es.ElementaryStreamDescriptors) == 0:
				found.bare[es.ElementaryPID] = true
			case registeredAV1(es.ElementaryStreamDescriptors):
				if found.av1[es.ElementaryPID], err = describedAV1(es.ElementaryStreamDescriptors); err != nil {
					return tsPrivate{}, fmt.Errorf("%w: PID %d: %v", ErrUnsupportedCodec, es.ElementaryPID, err)
				}
			}
		}
		return found, nil
	}
}

// describedAV1 reads the AV1 video descriptor among descs, if there is one.
func describedAV1(descs []*astits.Descriptor) (av1TSVideo, error) {
	for _, d := range descs {
		if d.Tag == av1VideoDescriptorTag {
			return parseAV1VideoDescriptor(d.UserDefined)
		}
	}
	return av1TSVideo{}, nil
}

func registeredAV1(descs []*astits.Descriptor) bool {
	for _, d := range descs {
		if d.Registration != nil && d.Registration.FormatIdentifier == av1FormatIdentifier {
			return true
		}
	}
	return false
}

// probeCopy keeps what the MPEG-TS reader reads while it looks for its program (bounded by
// the probeLimit in front of it), for findPrivateStreams.
type probeCopy struct {
	r    io.Reader
	kept []byte
	done bool
}

func (p *probeCopy) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if !p.done {
		p.kept = append(p.kept, b[:n]...)
	}
	return n, err
}

// privateStreams stops the copy and finds the private-data streams in what it kept.
func (p *probeCopy) privateStreams() (tsPrivate, error) {
	kept := p.kept
	p.kept, p.done = nil, true
	return findPrivateStreams(kept)
}

// readAV1 declares t, an AV1 elementary stream, as the stream's video (re-encoded to H.264
// like any AV1 source) and feeds it each PES's OBUs. mediacommon has no AV1 codec: its
// MPEG-4 Visual callback hands over any track's PES payload as it is, with the PES's PTS,
// which is taken for the DTS too (they differ only for access units that show an earlier
// frame, which real-time AV1 encoders do not make). A PES that does not parse is dropped
// and logged (the first and every 100th).
func readAV1(mr *mpegts.Reader, t *mpegts.Track, st *stream, ts *tsUnwrapper, d av1TSVideo) {
	st.log.Info("mpeg-ts av1 track", "pid", t.PID, "descriptor", d.described, "profile", d.profile,
		"level", d.level, "tier", d.tier, "bit_depth", d.bitDepth, "monochrome", d.mono, "hdr_wcg", d.hdrWCG)
	st.declareRecoded(&av1Params{})
	dropped := 0
	mr.OnDataMPEG4Video(t, func(pts int64, pes []byte) error {
		tu, err := unpackAV1PES(pes)
		if err != nil {
			if dropped++; dropped == 1 || dropped%100 == 0 {
				st.log.Warn("mpeg-ts av1: PES dropped", "err", err.Error(), "count", dropped)
			}
			return nil
		}
		if len(tu) == 0 {
			return nil
		}
		p, dts := ts.times(pts, pts)
		return st.videoAU(p, dts, tu)
	})
}

var errNoOBUStartCode = errors.New("av1 pes: data before the first OBU start code")

// unpackAV1PES returns the OBUs of one PES payload in start-code format, unescaped and each
// without its obu_size field (obu_has_size_field cleared), which is how av1Params and the
// re-encoder take a temporal unit. Zero bytes before the first start code and after an OBU
// (the leading zero of a 4-byte start code, stuffing) are skipped: an OBU without obu_size
// ends at its last non-zero byte (trailing bits end with a one; the spec's escaping leaves
// no other way to tell). The OBUs share one new buffer.
func unpackAV1PES(pes []byte) ([][]byte, error) {
	startCode := []byte{0, 0, 1}
	i := bytes.Index(pes, startCode)
	if i < 0 {
		if allZero(pes) {
			return nil, nil
		}
		return nil, errNoOBUStartCode
	}
	if !allZero(pes[:i]) {
		return nil, errNoOBUStartCode
	}
	rest := pes[i+3:]
	buf := make([]byte, 0, len(rest))
	var obus [][]byte
	for len(rest) > 0 {
		unit := rest
		if i = bytes.Index(rest, startCode); i >= 0 {
			unit, rest = rest[:i], rest[i+3:]
		} else {
			rest = nil
		}
		start := len(buf)
		buf = media.AppendUnescaped(buf, unit)
		obu, err := normalizeOBU(buf[start:])
		if err != nil {
			return nil, fmt.Errorf("av1 pes: OBU %d: %w", len(obus), err)
		}
		buf = buf[:start+len(obu)]
		if len(obu) > 0 {
			obus = append(obus, buf[start:len(buf):len(buf)])
		}
	}
	return obus, nil
}

// normalizeOBU rewrites one unescaped OBU in place without its obu_size field and returns
// it (empty for a unit of zero bytes only). An obu_size beyond the unit, or anything but
// zero bytes after the size it gives, is an error.
func normalizeOBU(u []byte) ([]byte, error) {
	if allZero(u) {
		return u[:0], nil
	}
	if u[0]&obuForbiddenBit != 0 {
		return nil, fmt.Errorf("forbidden bit set in OBU header 0x%02x", u[0])
	}
	head := 1
	if u[0]&obuExtensionFlag != 0 {
		head = 2
	}
	if len(u) < head {
		return nil, fmt.Errorf("OBU header of %d bytes, want %d", len(u), head)
	}
	if u[0]&obuHasSizeField == 0 {
		end := len(u)
		for end > head && u[end-1] == 0 {
			end--
		}
		return u[:end], nil
	}
	var size av1.LEB128
	n, err := size.Unmarshal(u[head:])
	if err != nil {
		return nil, fmt.Errorf("obu_size: %w", err)
	}
	body := u[head+n:]
	if uint64(size) > uint64(len(body)) {
		return nil, fmt.Errorf("obu_size %d beyond the %d bytes before the next start code", size, len(body))
	}
	if !allZero(body[size:]) {
		return nil, fmt.Errorf("%d bytes after an OBU of obu_size %d", len(body)-int(size), size)
	}
	u[0] &^= obuHasSizeField
	copy(u[head:], body[:size])
	return u[:head+int(size)], nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
