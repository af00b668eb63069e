package transcoder

import (
	"cmp"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
)

// CPU measurements of the HLS bridge's ladder for an H.265 or AV1 source (issue 17): the
// source passed through, one decode, H.264 rungs from the source's size down.

// TestHEVCPassLadderCPUVsFFmpeg is TestLadderCPUVsFFmpeg for an H.265 source decoded once:
// what the HLS bridge does with an H.265 room (issue 17) — the source passed through, an
// H.264 rung of the source's size (2.5 Mb/s) and the default ladder's 480p and 360p, all
// encoded from one decode — against the ffmpeg CLI copying the H.265 and decoding it once into
// the same three encodes. Run it with GLINT_TRANSCODER_CPU=1.
func TestHEVCPassLadderCPUVsFFmpeg(t *testing.T) {
	if os.Getenv("GLINT_TRANSCODER_CPU") == "" {
		t.Skip("measurement; set GLINT_TRANSCODER_CPU=1")
	}
	seconds := cmp.Or(os.Getenv("GLINT_TRANSCODER_SECONDS"), "20")
	input := benchInput(t, seconds, "ts", "-c:v", "libx265", "-preset", "ultrafast", "-g", "60", "-x265-params", "log-level=error")
	compareCPU(t, seconds, input, "TestHelperHEVCPassLadderFile", passLadderArgs(input))
}

// TestHEVCNativeIngestCPUVsFFmpeg is TestHEVCPassLadderCPUVsFFmpeg for an H.265 source
// over SRT or RTMP without B-frames, which ingest publishes natively when LL-HLS runs: the
// room's ladder decodes it once (the H.264 rung of its size is also the room's alternate
// WebRTC video), where ingest used to re-encode it first (TestHEVCLadderCPUVsFFmpeg). Run it
// with GLINT_TRANSCODER_CPU=1.
func TestHEVCNativeIngestCPUVsFFmpeg(t *testing.T) {
	if os.Getenv("GLINT_TRANSCODER_CPU") == "" {
		t.Skip("measurement; set GLINT_TRANSCODER_CPU=1")
	}
	seconds := cmp.Or(os.Getenv("GLINT_TRANSCODER_SECONDS"), "20")
	input := benchInput(t, seconds, "ts", "-c:v", "libx265", "-preset", "ultrafast", "-g", "60",
		"-x265-params", "log-level=error:bframes=0")
	compareCPU(t, seconds, input, "TestHelperHEVCPassLadderFile", passLadderArgs(input))
}

// TestHelperHEVCPassLadderFile is the child process of TestHEVCPassLadderCPUVsFFmpeg.
func TestHelperHEVCPassLadderFile(t *testing.T) {
	passLadderHelper(t, "H265", "TestHEVCPassLadderCPUVsFFmpeg")
}

// passLadderHelper is the child process of an H.265 or AV1 measurement: the HLS bridge's
// ladder for such a source (sourceSizeLadder) over GLINT_LADDER_FILE.
func passLadderHelper(t *testing.T, codec, parent string) {
	path := os.Getenv("GLINT_LADDER_FILE")
	if path == "" {
		t.Skip("child process of " + parent)
	}
	if err := pushFile(path, 0, func(w, h int) (pusher, error) {
		return NewLadder(LadderConfig{SourceCodec: codec, Rungs: sourceSizeLadder(w, h), MaxLoad: -1,
			Output: func(int, Encoded) {}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}); err != nil {
		t.Fatal(err)
	}
}

// sourceSizeLadder is the HLS bridge's ladder for an H.265 or AV1 source: the default ladder
// with an H.264 rung of the source's size after the passthrough.
func sourceSizeLadder(w, h int) []Rung {
	rungs := DefaultLadder(w, h)
	return append([]Rung{rungs[0], {Name: itoa(h) + "p", Width: w, Height: h, BitrateKbps: rungs[0].BitrateKbps,
		SourceSize: true}}, rungs[1:]...)
}

// passLadderArgs is the ffmpeg CLI doing what the HLS bridge does with an H.265 or AV1
// source: copy it, decode it once (decoder options before the input) and encode the source's
// size (constrained baseline, as the room's alternate WebRTC video), 480p and 360p to H.264.
func passLadderArgs(input string, decoder ...string) []string {
	args := append(append([]string{"-hide_banner", "-nostats", "-loglevel", "error", "-threads", "1"}, decoder...), "-i", input,
		"-filter_complex", "[0:v]split=3[a][b][c];[b]scale=854:480:flags=bicubic[v1];[c]scale=640:360:flags=bicubic[v2]",
		"-map", "0:v", "-c:v", "copy", "-f", "null", "-", "-map", "[a]")
	sourceSize := ffmpegX264Args("2500k")
	sourceSize[slices.Index(sourceSize, "main")] = "baseline"
	args = append(append(args, sourceSize...), "-f", "null", "-", "-map", "[v1]")
	args = append(append(args, ffmpegX264Args("1200k")...), "-f", "null", "-", "-map", "[v2]")
	args = append(args, ffmpegX264Args("700k")...)
	return append(args, "-f", "null", "-")
}
