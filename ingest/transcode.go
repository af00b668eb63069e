package ingest

import (
	"log/slog"

	"github.com/glint-video/glint/transcoder"
)

// AudioConverter turns input audio frames into Opus frames (48 kHz) for WebRTC viewers.
// *transcoder.AudioConverter is one.
type AudioConverter interface {
	Convert(in transcoder.Encoded) ([]transcoder.Encoded, error)
	Close() error
}

// VideoReencoder turns H.264 with B-frames, or H.265, into H.264 WebRTC viewers can play (constrained
// baseline, no B-frames, in-band SPS/PPS before every IDR). *transcoder.Reencoder is one.
type VideoReencoder interface {
	Push(in transcoder.Encoded) ([]transcoder.Encoded, error)
	RequestKeyframe()
	Close() error
}

// Transcode opens the converters ingest needs. Nil fields take package transcoder's; a
// constructor that fails leaves the stream without that conversion (logged): AAC is then
// dropped (a video-only room) and B-frames pass through unchanged.
type Transcode struct {
	// AACToOpus opens an AAC → Opus converter for an input of sampleRate and channels with
	// its AudioSpecificConfig (frames are raw AAC, without ADTS headers).
	AACToOpus func(sampleRate, channels int, asc []byte, log *slog.Logger) (AudioConverter, error)
	// Reencoder opens a re-encoder for a source of codec ("H264" or "H265") at about fps
	// frames a second.
	Reencoder func(codec string, fps int, log *slog.Logger) (VideoReencoder, error)
}

func (t Transcode) withDefaults() Transcode {
	if t.AACToOpus == nil {
		t.AACToOpus = func(rate, channels int, asc []byte, log *slog.Logger) (AudioConverter, error) {
			c, err := transcoder.NewAudioConverter("aac", "opus", rate, channels,
				transcoder.WithInputASC(asc), transcoder.WithAudioLogger(log))
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	if t.Reencoder == nil {
		t.Reencoder = func(codec string, fps int, log *slog.Logger) (VideoReencoder, error) {
			r, err := transcoder.NewReencoder(transcoder.ReencoderConfig{SourceCodec: codec, FPS: fps, Log: log})
			if err != nil {
				return nil, err
			}
			return r, nil
		}
	}
	return t
}
