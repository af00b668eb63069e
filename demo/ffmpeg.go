package demo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// fontFile is used for the clock when present (Debian: fonts-dejavu-core);
// without it drawtext falls back to fontconfig's default font.
const fontFile = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

// ffmpegStopGrace is how long ffmpeg gets to exit after SIGINT before it is
// killed.
const ffmpegStopGrace = 2 * time.Second

// runFFmpeg runs one ffmpeg child sending H.264 RTP to 127.0.0.1:videoPort
// and Opus RTP to 127.0.0.1:audioPort until ctx ends (nil) or ffmpeg exits
// on its own (an error: the caller logs it and starts a new attempt).
func runFFmpeg(ctx context.Context, opts Options, videoPort, audioPort int, log *slog.Logger) error {
	args := ffmpegArgs(opts, videoPort, audioPort, fontFileIfPresent())
	cmd := exec.CommandContext(ctx, opts.FFmpeg, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = ffmpegStopGrace
	cmd.SysProcAttr = childAttr()
	stderr := &lineLogger{log: log.With("process", "ffmpeg")}
	cmd.Stderr = stderr
	// stdout stays nil (/dev/null): ffmpeg prints the RTP SDP there.

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	log.Info("ffmpeg started", "pid", cmd.Process.Pid, "video_port", videoPort, "audio_port", audioPort)
	err := cmd.Wait()
	stderr.flush()
	if ctx.Err() != nil {
		return nil
	}
	last := stderr.lastLine()
	if err == nil {
		return fmt.Errorf("ffmpeg exited unexpectedly (status 0, last output %q)", last)
	}
	return fmt.Errorf("ffmpeg exited: %w (last output %q)", err, last)
}

func fontFileIfPresent() string {
	if _, err := os.Stat(fontFile); err == nil {
		return fontFile
	}
	return ""
}

// ffmpegArgs builds the command line: a test pattern with a wall clock and a
// 440 Hz tone with an 880 Hz beep each second, paced in real time (-re),
// encoded for WebRTC and sent as two RTP streams.
//
// The demo answers a PLI without asking the encoder: -g FPS makes x264 emit
// an IDR (with SPS/PPS in band, as the RTP muxer asks for no global header)
// every second, so a new viewer or one that lost packets waits at most a
// second for a picture. That is enough for a demo; no PLI reaches ffmpeg.
func ffmpegArgs(opts Options, videoPort, audioPort int, font string) []string {
	fps := strconv.Itoa(opts.FPS)
	kbps := strconv.Itoa(opts.BitrateKbps) + "k"
	return []string{
		"-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
		"-re", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", opts.Width, opts.Height, opts.FPS),
		"-re", "-f", "lavfi", "-i", "sine=frequency=440:beep_factor=2:sample_rate=48000",

		"-map", "0:v", "-vf", clockFilter(opts.Height, font),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
		"-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-g", fps, "-keyint_min", fps, "-bf", "0",
		"-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps,
		"-f", "rtp", "-rtpflags", "skip_rtcp",
		fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=1200", videoPort),

		"-map", "1:a",
		"-c:a", "libopus", "-b:a", "64k", "-ar", "48000", "-ac", "2",
		"-f", "rtp", "-rtpflags", "skip_rtcp",
		fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=1200", audioPort),
	}
}

// clockFilter draws the local wall-clock time with milliseconds at the
// moment each frame is made: settb+setpts set the frame's pts to the real
// time clock (RTCTIME, µs since the epoch), drawtext prints it, and the last
// setpts restores a regular frame count timeline for the encoder. (Reading
// the time from the input pts instead would be off by ffmpeg's start-up
// time.) Escaping: \: and \, are for the filter graph, \\\: for drawtext's
// own %{...} argument parser.
func clockFilter(height int, font string) string {
	fontOpt := ""
	if font != "" {
		fontOpt = "fontfile=" + font + ":"
	}
	size := max(16, height/10)
	return "settb=AVTB,setpts=RTCTIME," +
		"drawtext=" + fontOpt + "fontsize=" + strconv.Itoa(size) +
		":fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=6:x=8:y=8:" +
		`text='%{pts\:localtime\:0\:%H\\\:%M\\\:%S}.%{eif\:mod(t*1000\,1000)\:d\:3}',` +
		"setpts=N/FRAME_RATE/TB"
}

// lineLogger is ffmpeg's stderr: each complete line becomes one debug log
// record. exec copies stderr from its own goroutine, which Wait ends. The
// last line is kept for the error when ffmpeg dies (debug may be off).
type lineLogger struct {
	log  *slog.Logger
	mu   sync.Mutex
	buf  bytes.Buffer
	last string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadBytes('\n')
		if err != nil { // no newline yet: keep the partial line
			l.buf.Reset()
			l.buf.Write(line)
			return len(p), nil
		}
		l.emit(line)
	}
}

// flush logs a last line that had no newline.
func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 {
		l.emit(l.buf.Bytes())
		l.buf.Reset()
	}
}

// lastLine is the last non-empty line ffmpeg wrote.
func (l *lineLogger) lastLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *lineLogger) emit(line []byte) {
	text := string(bytes.TrimRight(line, "\r\n"))
	if text != "" {
		l.last = text
		l.log.Debug("ffmpeg", "line", text)
	}
}
