// Package transcoder owns Glint's media transcoding through libav (FFmpeg 5.1 via
// github.com/asticode/go-astiav v0.16.0): the HLS video ladder (decode once, scale per rung,
// encode H.264 without B-frames, keyframes aligned on segment boundaries), H.264 encoder probing
// (NVENC, VAAPI, QSV, then libx264), audio conversion between Opus and AAC, and the re-encoder
// that makes H.264 with B-frames playable by WebRTC viewers.
//
// Every type here owns libav objects: call Close exactly once when done. None of them starts a
// goroutine that outlives a call; when the Ladder runs its rung encoders in parallel, it does
// so inside Push and joins them before Push returns. Times are time.Duration capture timestamps: each output
// carries the PTS of the input frame it came from, so latency stays measurable downstream.
package transcoder

import (
	"errors"
	"log/slog"
	"time"
)

// Encoded is one encoded unit: an H.264 access unit in Annex-B (with start codes; SPS/PPS
// in-band before every IDR in outputs), a VP8/VP9 frame (input only), or one audio frame.
type Encoded struct {
	Data     []byte
	PTS, DTS time.Duration // presentation / decode time; capture time of the source frame
	Keyframe bool
	Duration time.Duration // 0 when unknown
	// Boundary marks the first frame of a new segment in Ladder outputs: it is set on the
	// frame of the same source picture in every rung, and that frame is an IDR. Ignored on input.
	Boundary bool
}

// EncoderInfo names the H.264 encoder in use, e.g. {"libx264", false} or {"h264_nvenc", true}.
type EncoderInfo struct {
	Name     string
	Hardware bool
}

// positiveOr is v, or def when v is zero or negative (a setting left unset).
func positiveOr[T ~int | ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// orLibx264 is e, or libx264 when e names no encoder (the default everywhere).
func (e EncoderInfo) orLibx264() EncoderInfo {
	if e.Name == "" {
		return EncoderInfo{Name: "libx264"}
	}
	return e
}

// Rung is one rendition of the ladder. A Passthrough rung forwards the source untouched
// when it is H.264, H.265 or AV1 (Width/Height/BitrateKbps are then estimates for
// playlists); a VP8/VP9 source's Passthrough rung is re-encoded to H.264 at the source size
// instead. A SourceSize rung is always encoded to H.264, at the source's size (following its
// changes; Width and Height are then estimates), constrained baseline: the H.264 rendition of
// an H.265 or AV1 source passed through, which is also the room's alternate WebRTC video.
type Rung struct {
	Name          string // e.g. "720p", "source"
	Width, Height int    // output size; Width 0 = keep the source aspect ratio
	BitrateKbps   int
	Passthrough   bool
	SourceSize    bool
}

// CanPassThrough reports whether a Passthrough rung forwards a source of this codec
// ("H264", "H265", "AV1") as it is, rather than re-encoding it.
func CanPassThrough(codec string) bool {
	switch codec {
	case "H264", "H265", "AV1":
		return true
	}
	return false
}

// LadderConfig configures NewLadder. Zero values take the documented defaults.
type LadderConfig struct {
	SourceCodec     string        // "H264" (default), "H265", "VP8", "VP9" or "AV1"
	Rungs           []Rung        // required; DefaultLadder gives the default one
	FPS             int           // nominal source frame rate, default 30
	SegmentDuration time.Duration // IDR forced on every rung at segment boundaries, default 2 s
	Encoder         EncoderInfo   // default libx264 (use ProbeH264Encoder)
	Preset          string        // libx264 preset, default "superfast"
	Threads         int           // threads per encoder, default NumCPU / re-encoded rungs (min 1)
	// MaxLoad is the share of real time (processing wall time over the PTS span of a 2 s
	// window) above which the ladder first encodes its rungs in parallel, then, if still
	// above, drops the most expensive re-encoded rung (logged once per rung). Default 0.9;
	// negative disables dropping. The last remaining rung is never dropped.
	MaxLoad float64
	// Output receives every output unit, synchronously from Push (or Flush) on the caller's
	// goroutine: passthrough rungs first, as the frame arrives; then, once every re-encoded
	// rung has encoded the decoded picture, their outputs in rung order. rung indexes Rungs.
	// The callee owns e.Data (a passthrough rung hands on the input's Data slice).
	Output func(rung int, e Encoded)
	Log    *slog.Logger // default slog.Default(); add room/session ids as attributes
}

// ReencoderConfig configures NewReencoder (H.264 or H.265 → WebRTC-safe H.264: constrained
// baseline, no B-frames, tune=zerolatency, keyframe on request). Zero values take the defaults.
type ReencoderConfig struct {
	SourceCodec      string        // "H264" (default) or "H265"
	BitrateKbps      int           // default 2500
	FPS              int           // nominal frame rate, default 30
	KeyframeInterval time.Duration // periodic IDR, default 2 s
	Encoder          EncoderInfo   // default libx264
	Preset           string        // libx264 preset, default "veryfast"
	Threads          int           // default 0 = libav auto
	Log              *slog.Logger
}

// AudioOption tunes NewAudioConverter.
type AudioOption func(*audioOptions)

type audioOptions struct {
	bitrateKbps int
	asc         []byte
	log         *slog.Logger
}

// WithAudioBitrate sets the output bitrate (default 128 kb/s AAC, 64 kb/s Opus).
func WithAudioBitrate(kbps int) AudioOption { return func(o *audioOptions) { o.bitrateKbps = kbps } }

// WithInputASC gives the AudioSpecificConfig of a raw AAC input (from FLV's sequence header or
// the MP4 esds). Without it an AAC-LC config is derived from sampleRate and channels; ADTS
// frames (MPEG-TS) need none.
func WithInputASC(asc []byte) AudioOption { return func(o *audioOptions) { o.asc = asc } }

// WithAudioLogger sets the logger (default slog.Default()).
func WithAudioLogger(l *slog.Logger) AudioOption { return func(o *audioOptions) { o.log = l } }

// Errors returned (wrapped) by this package.
var (
	ErrClosed           = errors.New("transcoder: closed")
	ErrUnsupportedCodec = errors.New("transcoder: unsupported codec")
	ErrBadConfig        = errors.New("transcoder: bad config")
)

const (
	defaultFPS        = 30
	defaultSegment    = 2 * time.Second
	defaultMaxLoad    = 0.9
	defaultPreset     = "superfast"
	reencoderPreset   = "veryfast"
	defaultReencKbps  = 2500
	loadWindowSeconds = 2
)

// DefaultLadder is the default ladder for a source of the given size: the source passed
// through, plus 720p, 480p and 360p re-encoded where they are below the source.
func DefaultLadder(srcWidth, srcHeight int) []Rung {
	return CustomLadder(srcWidth, srcHeight, true, []RungSpec{{Height: 720}, {Height: 480}, {Height: 360}})
}

// RungSpec is a re-encoded rung of a configured ladder: its height and bitrate (0: the
// default for the height).
type RungSpec struct {
	Height, BitrateKbps int
}

// CustomLadder builds a ladder for a source of the given size: the source passed through
// when source is set, and each spec below the source's height re-encoded at the source's
// aspect ratio. A ladder that would be empty (every rung at or above a small source)
// passes the source through, so that the room still has a rendition.
func CustomLadder(srcWidth, srcHeight int, source bool, specs []RungSpec) []Rung {
	var rungs []Rung
	if source {
		rungs = append(rungs, Rung{Name: "source", Width: srcWidth, Height: srcHeight,
			BitrateKbps: bitrateFor(srcHeight), Passthrough: true})
	}
	for _, sp := range specs {
		if srcHeight > 0 && sp.Height >= srcHeight {
			continue
		}
		kbps := sp.BitrateKbps
		if kbps <= 0 {
			kbps = bitrateFor(sp.Height)
		}
		rungs = append(rungs, Rung{Name: itoa(sp.Height) + "p", Width: scaledWidth(srcWidth, srcHeight, sp.Height),
			Height: sp.Height, BitrateKbps: kbps})
	}
	if len(rungs) == 0 {
		return CustomLadder(srcWidth, srcHeight, true, nil)
	}
	return rungs
}

// bitrateFor is the default H.264 bitrate for a picture height.
func bitrateFor(h int) int {
	switch {
	case h >= 1080:
		return 4500
	case h >= 720:
		return 2500
	case h >= 480:
		return 1200
	case h >= 360:
		return 700
	default:
		return 400
	}
}

// scaledWidth keeps the aspect ratio of srcW x srcH at height h, rounded to an even number.
func scaledWidth(srcW, srcH, h int) int {
	if srcW <= 0 || srcH <= 0 {
		return (h*16/9 + 1) &^ 1
	}
	return (srcW*h + srcH) / (2 * srcH) * 2 // nearest even
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
