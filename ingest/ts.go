package ingest

import (
	"fmt"
	"io"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

// maxProbeBytes bounds what an MPEG-TS connection may send before its PMT and codec
// parameters are found (the demuxer keeps it all to rewind).
const maxProbeBytes = 4 << 20

// runTS demuxes MPEG-TS from r into st until r fails: H.264, H.265 or AV1 (ts_av1.go), AAC
// (ADTS) and Opus, all tracks on one 33-bit unwrapper.
func runTS(r io.Reader, st *stream) error {
	probe := &probeCopy{r: r}
	lr := &probeLimit{r: probe, left: maxProbeBytes}
	mr := &mpegts.Reader{R: lr}
	if err := mr.Initialize(); err != nil {
		return fmt.Errorf("mpeg-ts: %w", err)
	}
	lr.left = -1
	private, err := probe.privateStreams()
	if err != nil {
		return fmt.Errorf("mpeg-ts: %w", err)
	}
	decodeErrors := 0
	mr.OnDecodeError(func(err error) {
		if decodeErrors++; decodeErrors == 1 || decodeErrors%100 == 0 {
			st.log.Warn("mpeg-ts decode error", "err", err.Error(), "count", decodeErrors)
		}
	})
	if err := tsTracks(mr, st, &tsUnwrapper{}, private); err != nil {
		return err
	}
	for {
		if err := mr.Read(); err != nil {
			return fmt.Errorf("mpeg-ts: %w", err)
		}
	}
}

// tsTracks declares the first H.264, H.265 or AV1 (private.av1) track and the first AAC or
// Opus track and sets their callbacks.
func tsTracks(mr *mpegts.Reader, st *stream, ts *tsUnwrapper, private tsPrivate) error {
	var video, audio bool
	var otherVideo string
	for _, t := range mr.Tracks() {
		switch c := t.Codec.(type) {
		case *tscodecs.H264:
			if video {
				continue
			}
			video = true
			st.declareVideo(nil, nil)
			mr.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
				p, d := ts.times(pts, dts)
				return st.videoAU(p, d, au)
			})
		case *tscodecs.H265:
			if video {
				continue
			}
			video = true
			st.declareRecoded(&hevcParams{})
			mr.OnDataH265(t, func(pts, dts int64, au [][]byte) error {
				p, d := ts.times(pts, dts)
				return st.videoAU(p, d, au)
			})
		case *tscodecs.MPEG4Audio, *tscodecs.Opus:
			if !audio {
				audio = readTSAudio(mr, t, st, ts)
			}
		default:
			if d, ok := private.av1[t.PID]; ok {
				if !video {
					video = true
					readAV1(mr, t, st, ts, d)
				}
				continue
			}
			if c.IsVideo() && otherVideo == "" {
				otherVideo = codecName(c)
			} else if !c.IsVideo() && !private.bare[t.PID] {
				st.log.Warn("audio track dropped: unsupported codec; publish AAC or Opus", "codec", codecName(c))
			}
		}
	}
	if !video && otherVideo == "" && len(private.bare) > 0 {
		otherVideo = "as private data without a registration descriptor (FFmpeg writes AV1 so; see docs/codecs.md)"
	}
	if !video && otherVideo != "" {
		return fmt.Errorf("%w: MPEG-TS video %s; publish H.264, H.265 or AV1", ErrUnsupportedCodec, otherVideo)
	}
	if !video && !audio {
		return fmt.Errorf("%w: no H.264, H.265, AV1, AAC or Opus track in the MPEG-TS program", ErrUnsupportedCodec)
	}
	return nil
}

// readTSAudio reads t, an AAC or Opus track, as the stream's audio; it reports false (and
// reads nothing) for an AAC track whose configuration cannot be used.
func readTSAudio(mr *mpegts.Reader, t *mpegts.Track, st *stream, ts *tsUnwrapper) bool {
	switch c := t.Codec.(type) {
	case *tscodecs.MPEG4Audio:
		rate := c.Config.SampleRate
		if rate <= 0 {
			return false
		}
		asc, err := c.Config.Marshal()
		if err != nil {
			return false
		}
		st.declareAudio(aacIn(&c.Config, asc))
		mr.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
			p, _ := ts.times(pts, pts)
			for i, au := range aus {
				if err := st.audioFrame(p+int64(i)*1024*ticksPerSecond/int64(rate), au); err != nil {
					return err
				}
			}
			return nil
		})
		return true
	case *tscodecs.Opus:
		st.declareAudio(audioIn{codec: "opus", sampleRate: 48000, channels: 2})
		mr.OnDataOpus(t, func(pts int64, packets [][]byte) error {
			p, _ := ts.times(pts, pts)
			for _, pkt := range packets {
				if err := st.audioFrame(p, pkt); err != nil {
					return err
				}
				p += opus.PacketDuration2(pkt) * ticksPerSecond / 48000
			}
			return nil
		})
		return true
	}
	return false
}

// codecName names an MPEG-TS codec ("H265", "MPEG1Audio").
func codecName(c tscodecs.Codec) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", c), "*codecs.")
}

// probeLimit fails a reader once left bytes have been read (left < 0: no limit).
type probeLimit struct {
	r    io.Reader
	left int
}

func (p *probeLimit) Read(b []byte) (int, error) {
	if p.left >= 0 && p.left < len(b) {
		if p.left == 0 {
			return 0, fmt.Errorf("no MPEG-TS program (PAT/PMT and codec parameters) within %d bytes", maxProbeBytes)
		}
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	if p.left >= 0 {
		p.left -= n
	}
	return n, err
}
