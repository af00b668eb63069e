package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/media"
)

// source is a pre-encoded clip, looped by the publisher.
type source struct {
	video [][]byte // H.264 access units, Annex B, a keyframe every two seconds
	audio [][]byte // Opus packets of 20 ms
	fps   int
}

// encodeSource has the ffmpeg CLI encode a test pattern (H.264 constrained baseline, no
// B-frames, as a WebRTC publisher sends) and a tone (Opus) of the given length.
func encodeSource(ctx context.Context, dir, size string, fps, kbps int, length time.Duration) (*source, error) {
	v, a := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.ogg")
	secs := fmt.Sprint(length.Seconds())
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-t", secs, "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps),
		"-f", "lavfi", "-t", secs, "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-bf", "0", "-g", fmt.Sprint(2 * fps), "-keyint_min", fmt.Sprint(2 * fps), "-sc_threshold", "0",
		"-b:v", fmt.Sprintf("%dk", kbps), "-maxrate", fmt.Sprintf("%dk", kbps), "-bufsize", fmt.Sprintf("%dk", kbps),
		"-pix_fmt", "yuv420p", "-f", "h264", v,
		"-map", "1:a", "-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-frame_duration", "20", "-page_duration", "20000",
		"-f", "ogg", a}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w: %s", err, bytes.TrimSpace(out))
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return nil, err
	}
	src := &source{video: accessUnits(data), fps: fps}
	if src.audio, err = opusPackets(a); err != nil {
		return nil, err
	}
	if len(src.video) == 0 || len(src.audio) == 0 {
		return nil, errors.New("ffmpeg produced no media")
	}
	return src, nil
}

// accessUnits splits an Annex B stream into access units (a new one at a non-VCL NAL unit
// after a slice, or at a slice with first_mb_in_slice 0).
func accessUnits(data []byte) [][]byte {
	var out [][]byte
	var au []byte
	vcl := false
	for nal := range media.SplitAnnexB(data) {
		if len(nal) == 0 {
			continue
		}
		typ := nal[0] & 0x1f
		isVCL := typ >= 1 && typ <= 5
		if vcl && (!isVCL || len(nal) > 1 && nal[1]&0x80 != 0) {
			out, au, vcl = append(out, au), nil, false
		}
		vcl = vcl || isVCL
		au = append(append(au, 0, 0, 0, 1), nal...)
	}
	if len(au) > 0 {
		out = append(out, au)
	}
	return out
}

// opusPackets reads the Opus packets of an Ogg file with one packet per page.
func opusPackets(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", err)
	}
	var out [][]byte
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ogg: %w", err)
		}
		if !bytes.HasPrefix(page, []byte("OpusTags")) && len(page) > 0 {
			out = append(out, page)
		}
	}
}

// publish sends the looped source over WHIP until ctx ends, stamping every access unit
// with a capture-time SEI (the wall-clock time it is handed to WebRTC).
func publish(ctx context.Context, whipURL string, src *source, log *slog.Logger) error {
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
		ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		"video", "llhlsbench")
	if err != nil {
		return err
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus,
		ClockRate: 48000, Channels: 2}, "audio", "llhlsbench")
	if err != nil {
		return err
	}
	sess, err := client.Publish(ctx, whipURL, []webrtc.TrackLocal{video, audio}, client.Options{LoopbackOnly: true})
	if err != nil {
		return fmt.Errorf("whip: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sess.Close(closeCtx)
	}()
	if err := sess.Connected(ctx); err != nil {
		return fmt.Errorf("whip: %w", err)
	}
	log.Info("llhlsbench: publishing", "url", whipURL, "frames", len(src.video), "fps", src.fps)
	frame := time.Second / time.Duration(src.fps)
	start := time.Now()
	nextAudio := 0
	var buf []byte
	for n := 0; ; n++ {
		// Audio up to this frame's time (20 ms packets).
		for ; time.Duration(nextAudio)*20*time.Millisecond <= time.Duration(n)*frame; nextAudio++ {
			if err := audio.WriteSample(pionmedia.Sample{Data: src.audio[nextAudio%len(src.audio)],
				Duration: 20 * time.Millisecond}); err != nil {
				return fmt.Errorf("audio: %w", err)
			}
		}
		buf = append(buf[:0], 0, 0, 0, 1)
		buf = media.AppendCaptureSEI(buf, time.Now())
		buf = append(buf, src.video[n%len(src.video)]...)
		if err := video.WriteSample(pionmedia.Sample{Data: buf, Duration: frame}); err != nil {
			return fmt.Errorf("video: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			return errors.New("whip: session ended by the server")
		case <-time.After(time.Until(start.Add(time.Duration(n+1) * frame))):
		}
	}
}
