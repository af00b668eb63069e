package dvr

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/transcoder"
)

// Frame-accurate clips (accurate: true). The end of a clip is exact without re-encoding:
// the frames after it are a suffix in decode order, dropped without breaking a reference.
// The start is not: the first frame kept must be a keyframe. So the first GOP is decoded
// from its keyframe and re-encoded (transcoder.Reencoder) from the first frame at or after
// the start, that frame made an IDR; the re-encoded frames get their own sample
// description (their SPS and PPS), and every later GOP is copied as stored.

// addHead writes the clip's first video segment re-encoded from m.from on.
func (m *mp4Muxer) addHead(ctx context.Context, t *mp4Track, seg Segment) error {
	desc, err := m.initFor(ctx, t, seg.InitKey)
	if err != nil {
		return err
	}
	src := t.initBoxes[desc-1]
	samples, err := m.segmentSamples(ctx, seg.Key, src.Moov.Mvex.Trex)
	if err != nil || len(samples) == 0 {
		return fmt.Errorf("first segment: %d samples: %v", len(samples), err)
	}
	avcC := src.Moov.Trak.Mdia.Minf.Stbl.Stsd.AvcX
	if avcC == nil || avcC.AvcC == nil || len(avcC.AvcC.SPSnalus) == 0 || len(avcC.AvcC.PPSnalus) == 0 {
		return fmt.Errorf("init segment %s: no avcC parameter sets to decode with", seg.InitKey)
	}
	out, sps, pps, err := reencodeFrom(samples, t.timescale, seg, m.from, avcC.AvcC.SPSnalus[0], avcC.AvcC.PPSnalus[0])
	if err != nil {
		return err
	}
	init, err := avcInit(t.timescale, sps, pps)
	if err != nil {
		return fmt.Errorf("re-encoded sample entry: %w", err)
	}
	if err := t.addInit(init); err != nil {
		return err
	}
	start := m.from
	m.from = time.Time{} // every re-encoded frame is kept (they start at the start)
	defer func() { m.from = start }()
	return m.writeChunk(t, uint32(len(t.initBoxes)), seg.PDT.Add(ticksDuration(out[0].DecodeTime-samples[0].DecodeTime, t.timescale)), out)
}

// avcInit is an init segment of one avc1 video track with the given timescale, its avcC
// made from one SPS and one PPS.
func avcInit(timescale uint32, sps, pps []byte) (*mp4.InitSegment, error) {
	init := mp4.CreateEmptyInit()
	init.AddEmptyTrack(timescale, "video", "und")
	if err := init.Moov.Trak.SetAVCDescriptor("avc1", [][]byte{sps}, [][]byte{pps}, true); err != nil {
		return nil, err
	}
	return init, nil
}

// reencodeFrom decodes a GOP's samples (AVCC, from its keyframe) and re-encodes those that
// start at or after from, the first as an IDR. It returns the new samples (on the same
// timeline: decode time = presentation time) and their SPS and PPS.
func reencodeFrom(samples []mp4.FullSample, timescale uint32, seg Segment, from time.Time, sps, pps []byte) ([]mp4.FullSample, []byte, []byte, error) {
	fps := int(math.Round(float64(len(samples)) / seg.Duration.Seconds()))
	kbps := max(300, int(float64(seg.Bytes*8)/seg.Duration.Seconds()/1000*3/2)) // one GOP: spend more
	re, err := transcoder.NewReencoder(transcoder.ReencoderConfig{BitrateKbps: kbps, FPS: max(fps, 1),
		KeyframeInterval: time.Hour, Preset: "fast", Threads: 1})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("re-encode: %w", err)
	}
	defer re.Close()
	durs := map[time.Duration]uint32{}
	var encoded []transcoder.Encoded
	keyAsked := false
	for i, s := range samples {
		pts := ticksDuration(uint64(int64(s.DecodeTime)+int64(s.CompositionTimeOffset)), timescale)
		durs[pts] = s.Dur
		au := annexB(s.Data)
		if i == 0 {
			au = append(annexB(lengthPrefixed(sps, pps)), au...)
		}
		wall := seg.PDT.Add(ticksDuration(s.DecodeTime-samples[0].DecodeTime, timescale))
		if !keyAsked && !wall.Before(from) {
			re.RequestKeyframe()
			keyAsked = true
		}
		out, err := re.Push(transcoder.Encoded{Data: au, PTS: pts, DTS: ticksDuration(s.DecodeTime, timescale),
			Keyframe: s.IsSync(), Duration: ticksDuration(uint64(s.Dur), timescale)})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("re-encode: %w", err)
		}
		encoded = append(encoded, out...)
	}
	rest, err := re.Flush()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("re-encode: %w", err)
	}
	frameDur := uint32(int64(timescale) * int64(seg.Duration) / int64(time.Second) / int64(len(samples)))
	origin := seg.PDT.Add(-ticksDuration(samples[0].DecodeTime, timescale)) // wall = origin + PTS
	return keptFrames(append(encoded, rest...), durs, frameDur, timescale, origin, from)
}

// keptFrames turns the re-encoded frames presented at or after from (wall = origin + PTS)
// into samples; the first must be an IDR.
// frameDur is the duration of a frame whose source duration is not known.
func keptFrames(frames []transcoder.Encoded, durs map[time.Duration]uint32, frameDur, timescale uint32, origin, from time.Time) ([]mp4.FullSample, []byte, []byte, error) {
	var out []mp4.FullSample
	var sps, pps []byte
	for _, f := range frames {
		if origin.Add(f.PTS).Before(from) {
			continue
		}
		if len(out) == 0 && !f.Keyframe {
			return nil, nil, nil, fmt.Errorf("re-encode: the first frame kept is not an IDR")
		}
		var data []byte
		for nalu := range media.SplitAnnexB(f.Data) {
			switch nalu[0] & 0x1f {
			case 7:
				sps = append([]byte(nil), nalu...)
			case 8:
				pps = append([]byte(nil), nalu...)
			case 9: // access unit delimiter
			default:
				data = binary.BigEndian.AppendUint32(data, uint32(len(nalu)))
				data = append(data, nalu...)
			}
		}
		ticks := uint64(math.Round(f.PTS.Seconds() * float64(timescale)))
		flags := mp4.NonSyncSampleFlags
		if f.Keyframe {
			flags = mp4.SyncSampleFlags
		}
		dur, ok := durs[f.PTS]
		if !ok {
			dur = frameDur
		}
		out = append(out, mp4.FullSample{Sample: mp4.Sample{Flags: flags, Dur: dur, Size: uint32(len(data))},
			DecodeTime: ticks, Data: data})
	}
	if len(out) == 0 || sps == nil || pps == nil {
		return nil, nil, nil, fmt.Errorf("re-encode: %d frames kept, SPS %v, PPS %v", len(out), sps != nil, pps != nil)
	}
	return out, sps, pps, nil
}

// annexB turns AVCC (4-byte lengths) into Annex B.
func annexB(avcc []byte) []byte {
	out := make([]byte, 0, len(avcc)+16)
	for len(avcc) >= 4 {
		n := int(binary.BigEndian.Uint32(avcc))
		if n > len(avcc)-4 {
			break
		}
		out = append(append(out, 0, 0, 0, 1), avcc[4:4+n]...)
		avcc = avcc[4+n:]
	}
	return out
}

// lengthPrefixed joins NAL units in AVCC form.
func lengthPrefixed(nalus ...[]byte) []byte {
	var out []byte
	for _, n := range nalus {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	}
	return out
}
