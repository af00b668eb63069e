package dvr

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
)

// audioRendition is the name of the audio rendition, as in package hls (hls.AudioRendition).
const audioRendition = "a"

// variant is what the multivariant playlist says of one rendition: read from its latest
// init segment (codec, size) and measured over its stored segments (bitrates).
type variant struct {
	rendition     string
	audio         bool
	codec         string
	width, height int
	channels      int
	peak, avg     int // bit/s
}

// describeRendition reads a rendition's codec from its last init segment and measures its
// bitrates; ok is false for a rendition with no stored segment yet.
// Init segments already read are kept in inits (key → variant).
func describeRendition(ctx context.Context, c Catalog, inits *sync.Map, rendition string, segs []Segment) (variant, bool, error) {
	v := variant{rendition: rendition, audio: rendition == audioRendition}
	if len(segs) == 0 {
		return v, false, nil
	}
	key := segs[len(segs)-1].InitKey
	if known, ok := inits.Load(key); ok {
		v = known.(variant)
	} else {
		data, err := c.Read(ctx, key)
		if err != nil {
			return v, false, fmt.Errorf("dvr: init segment %s: %w", key, err)
		}
		if err := v.readInit(data); err != nil {
			return v, false, fmt.Errorf("dvr: init segment %s: %w", key, err)
		}
		inits.Store(key, v)
	}
	v.peak, v.avg = bitrates(segs)
	return v, true, nil
}

// readInit takes the codec string, picture size and channel count from an init segment.
func (v *variant) readInit(data []byte) error {
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if f.Init == nil || f.Init.Moov == nil || f.Init.Moov.Trak == nil {
		return fmt.Errorf("no track")
	}
	stsd := f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd
	switch {
	case stsd.AvcX != nil && stsd.AvcX.AvcC != nil:
		c := stsd.AvcX.AvcC
		v.codec = media.AVCCodecString(c.AVCProfileIndication, c.ProfileCompatibility, c.AVCLevelIndication)
		v.width, v.height = int(stsd.AvcX.Width), int(stsd.AvcX.Height)
	case stsd.Mp4a != nil:
		v.codec, v.channels = "mp4a.40.2", int(stsd.Mp4a.ChannelCount)
		if e := stsd.Mp4a.Esds; e != nil && e.DecConfigDescriptor != nil && e.DecConfigDescriptor.DecSpecificInfo != nil {
			if asc := e.DecConfigDescriptor.DecSpecificInfo.DecConfig; len(asc) > 0 && asc[0]>>3 != 0 {
				v.codec = media.AACCodecString(asc)
			}
		}
	case stsd.HvcX != nil || stsd.Av01 != nil: // an H.265 or AV1 source passed through
		var err error
		if v.codec, v.width, v.height, err = hls.InitCodec(data); err != nil {
			return err
		}
	default:
		return fmt.Errorf("no avc1, hvc1, av01 or mp4a sample entry")
	}
	return nil
}

// bitrates returns the peak (over segments of at least 0.1 s) and average bitrate.
func bitrates(segs []Segment) (peak, avg int) {
	var bytes int64
	var secs float64
	for _, s := range segs {
		if d := s.Duration.Seconds(); d >= 0.1 {
			peak = max(peak, int(float64(s.Bytes*8)/d))
		}
		bytes, secs = bytes+s.Bytes, secs+s.Duration.Seconds()
	}
	if secs > 0 {
		avg = int(float64(bytes*8) / secs)
	}
	return max(peak, 1), max(avg, 1)
}

// renderMultivariant writes a multivariant playlist: one variant per video rendition (the
// best first: the largest picture), all sharing the audio rendition's group, as /hls/ does. Each
// media playlist URI is prefix + rendition + ".m3u8" + query.
func renderMultivariant(variants []variant, prefix, query string) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	var audio *variant
	var video []variant
	for i := range variants {
		if variants[i].audio {
			audio = &variants[i]
		} else {
			video = append(video, variants[i])
		}
	}
	sort.SliceStable(video, func(i, j int) bool { return video[i].better(video[j]) })
	if audio != nil {
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"%d\",URI=\"%s%s.m3u8%s\"\n",
			audio.channels, prefix, audio.rendition, query)
	}
	for _, v := range video {
		codecs, group, peak, avg := v.codec, "", v.peak, v.avg
		if audio != nil {
			codecs, group = codecs+","+audio.codec, `,AUDIO="aac"`
			peak, avg = peak+audio.peak, avg+audio.avg
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\",RESOLUTION=%dx%d%s\n%s%s.m3u8%s\n",
			peak, avg, codecs, v.width, v.height, group, prefix, v.rendition, query)
	}
	if len(video) == 0 && audio != nil {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\"\n%s%s.m3u8%s\n",
			audio.peak, audio.avg, audio.codec, prefix, audio.rendition, query)
	}
	return b.Bytes()
}

// better ranks video renditions: the larger picture, then the higher peak bitrate.
func (v variant) better(o variant) bool {
	if a, b := v.width*v.height, o.width*o.height; a != b {
		return a > b
	}
	return v.peak > o.peak
}

// topVideo returns the best video rendition ("" when none).
func topVideo(variants []variant) string {
	var best *variant
	for i, v := range variants {
		if !v.audio && (best == nil || v.better(*best)) {
			best = &variants[i]
		}
	}
	if best == nil {
		return ""
	}
	return best.rendition
}
