package transcoder

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// BenchmarkLadder720p pushes a 720p30 H.264 source through the default ladder (passthrough +
// 480p + 360p with libx264 superfast/zerolatency). x_realtime is media time over wall time.
func BenchmarkLadder720p(b *testing.B) { benchmarkLadder(b, 1280, 720) }

// BenchmarkLadder1080p: passthrough + 720p + 480p + 360p from a 1080p30 source.
func BenchmarkLadder1080p(b *testing.B) { benchmarkLadder(b, 1920, 1080) }

func benchmarkLadder(b *testing.B, w, h int) {
	in := synthVideo(b, "H264", w, h, 30, 150, 0, 60)
	l, err := NewLadder(LadderConfig{Rungs: DefaultLadder(w, h), MaxLoad: -1,
		Output: func(int, Encoded) {}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	span := in[len(in)-1].PTS - in[0].PTS + time.Second/30
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for _, e := range in {
			e.PTS += time.Duration(i) * span
			if err := l.Push(e); err != nil {
				b.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N*len(in))/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(b.N)*span.Seconds()/elapsed.Seconds(), "x_realtime")
}

// The ladder as the ffmpeg CLI would run it with the same encoder settings: one decoder
// thread, bicubic scaling, libx264 superfast/zerolatency/main, CBR-like VBV, IDR every 2 s.
func ffmpegLadderArgs(input string) []string {
	args := []string{"-hide_banner", "-nostats", "-loglevel", "error", "-threads", "1", "-i", input,
		"-filter_complex", "[0:v]split=2[a][b];[a]scale=854:480:flags=bicubic[v1];[b]scale=640:360:flags=bicubic[v2]",
		"-map", "0:v", "-c:v", "copy", "-f", "null", "-"}
	args = append(append(args, "-map", "[v1]"), ffmpegX264Args("1200k")...)
	args = append(append(args, "-f", "null", "-", "-map", "[v2]"), ffmpegX264Args("700k")...)
	return append(args, "-f", "null", "-")
}

// The H.265 path as the ffmpeg CLI would run it: one decode, the re-encoder's 720p encode
// (libx264 veryfast/zerolatency/baseline, 2.5 Mb/s CBR-like VBV, IDR every 60 frames, libav's
// automatic threads) and the ladder's two rungs.
func ffmpegHEVCLadderArgs(input string) []string {
	args := []string{"-hide_banner", "-nostats", "-loglevel", "error", "-threads", "1", "-i", input,
		"-filter_complex", "[0:v]split=3[a][b][c];[b]scale=854:480:flags=bicubic[v1];[c]scale=640:360:flags=bicubic[v2]",
		"-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k", "-g", "60", "-bf", "0",
		"-x264-params", "scenecut=0", "-forced-idr", "1", "-threads", "0", "-f", "null", "-"}
	args = append(append(args, "-map", "[v1]"), ffmpegX264Args("1200k")...)
	args = append(append(args, "-f", "null", "-", "-map", "[v2]"), ffmpegX264Args("700k")...)
	return append(args, "-f", "null", "-")
}

func ffmpegX264Args(kbps string) []string {
	return []string{"-c:v", "libx264", "-preset", "superfast", "-tune", "zerolatency",
		"-profile:v", "main", "-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps, "-g", "600", "-bf", "0",
		"-x264-params", "scenecut=0", "-forced-idr", "1", "-force_key_frames", "expr:gte(t,n_forced*2)",
		"-threads", "1"}
}

// TestLadderCPUVsFFmpeg measures CPU seconds (user+sys of the whole process, from wait4) of the
// default ladder over a 720p30 file, in a child process running this test binary, against the
// ffmpeg CLI doing the same ladder on the same file. It is a measurement, not a check: run it
// with GLINT_TRANSCODER_CPU=1 (optional: GLINT_TRANSCODER_SECONDS, default 20;
// GLINT_TRANSCODER_ROUNDS, default 3).
func TestLadderCPUVsFFmpeg(t *testing.T) {
	if os.Getenv("GLINT_TRANSCODER_CPU") == "" {
		t.Skip("measurement; set GLINT_TRANSCODER_CPU=1")
	}
	seconds := cmp.Or(os.Getenv("GLINT_TRANSCODER_SECONDS"), "20")
	input := benchInput(t, seconds, "ts", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-bf", "0")
	checkSameSettings(t, input)
	compareCPU(t, seconds, input, "TestHelperLadderFile", ffmpegLadderArgs(input))
}

// TestHEVCLadderCPUVsFFmpeg is TestLadderCPUVsFFmpeg for an H.265 source (libx265 with its
// B-frames, as an SRT encoder sends it) and what ingest and the HLS bridge do with one: the
// re-encoder (H.265 → 720p H.264 constrained baseline, veryfast, 2.5 Mb/s, IDR every 2 s) and
// the default ladder fed by its output, against the ffmpeg CLI decoding the H.265 once into
// the same three encodes. Run it with GLINT_TRANSCODER_CPU=1.
func TestHEVCLadderCPUVsFFmpeg(t *testing.T) {
	if os.Getenv("GLINT_TRANSCODER_CPU") == "" {
		t.Skip("measurement; set GLINT_TRANSCODER_CPU=1")
	}
	seconds := cmp.Or(os.Getenv("GLINT_TRANSCODER_SECONDS"), "20")
	input := benchInput(t, seconds, "ts", "-c:v", "libx265", "-preset", "ultrafast", "-g", "60", "-x265-params", "log-level=error")
	compareCPU(t, seconds, input, "TestHelperHEVCLadderFile", ffmpegHEVCLadderArgs(input))
}

// TestAV1LadderCPUVsFFmpeg is TestLadderCPUVsFFmpeg for an AV1 source (libaom real-time, as
// a WHIP publisher sends it) and what the HLS bridge does with one: the source passed
// through, and one libdav1d decode (one thread) encoded to the H.264 rungs: the source's size
// (720p at 2.5 Mb/s), 480p, 360p (libx264 superfast/zerolatency/main), against the ffmpeg CLI
// doing the same. Run it with GLINT_TRANSCODER_CPU=1.
func TestAV1LadderCPUVsFFmpeg(t *testing.T) {
	if os.Getenv("GLINT_TRANSCODER_CPU") == "" {
		t.Skip("measurement; set GLINT_TRANSCODER_CPU=1")
	}
	seconds := cmp.Or(os.Getenv("GLINT_TRANSCODER_SECONDS"), "20")
	input := benchInput(t, seconds, "ivf", "-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-g", "60")
	compareCPU(t, seconds, input, "TestHelperAV1LadderFile", ffmpegAV1LadderArgs(input))
}

// TestHelperAV1LadderFile is the child process of TestAV1LadderCPUVsFFmpeg: the HLS bridge's
// ladder over an AV1 source (the source passed through, an H.264 rung of its size, 480p, 360p).
func TestHelperAV1LadderFile(t *testing.T) {
	passLadderHelper(t, "AV1", "TestAV1LadderCPUVsFFmpeg")
}

// The AV1 ladder as the ffmpeg CLI would run it: the source copied, libdav1d with one thread,
// then the three H.264 encodes (the source size at 2.5 Mb/s, 480p, 360p).
func ffmpegAV1LadderArgs(input string) []string {
	return passLadderArgs(input, "-c:v", "libdav1d")
}

// benchInput writes a 720p30 testsrc2 file of seconds, encoded with the codec args, in
// container ("ts": Annex B for H.264/H.265; "ivf": AV1 temporal units as encoded, with their
// sequence headers).
func benchInput(t *testing.T, seconds, container string, codec ...string) string {
	input := filepath.Join(t.TempDir(), "in."+container)
	args := append([]string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"testsrc2=size=1280x720:rate=30", "-t", seconds, "-pix_fmt", "yuv420p"}, codec...)
	gen := exec.Command("ffmpeg", append(args, input)...)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", gen.Args, err, out)
	}
	return input
}

// compareCPU runs the child test helper (this binary, on input) and the ffmpeg CLI with
// ffArgs in alternating rounds and logs the CPU seconds of each and their ratio.
func compareCPU(t *testing.T, seconds, input, helper string, ffArgs []string) {
	ff := exec.Command("ffmpeg", ffArgs...)
	self := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	self.Env = append(os.Environ(), "GLINT_LADDER_FILE="+input)
	t.Logf("ffmpeg command: ffmpeg %s", shellQuote(ffArgs))
	rounds := 3
	if r := os.Getenv("GLINT_TRANSCODER_ROUNDS"); r != "" {
		rounds = int(mustSeconds(t, r))
	}
	var ours, theirs []float64
	var oursWall time.Duration
	for round := 0; round < rounds; round++ { // alternate to share any machine noise
		c, w := cpuOf(t, exec.Command(self.Path, self.Args[1:]...), self.Env)
		ours, oursWall = append(ours, c), w
		c, _ = cpuOf(t, exec.Command(ff.Path, ff.Args[1:]...), nil)
		theirs = append(theirs, c)
	}
	slices.Sort(ours)
	slices.Sort(theirs)
	media := mustSeconds(t, seconds)
	mid := rounds / 2
	t.Logf("CPU seconds, glint ladder: median %.2f (runs %.2f)", ours[mid], ours)
	t.Logf("CPU seconds, ffmpeg CLI:   median %.2f (runs %.2f)", theirs[mid], theirs)
	t.Logf("ratio of medians: %.3f; glint real-time speed %.2fx (last run: wall %v for %.0f s of 720p30)",
		ours[mid]/theirs[mid], media/oursWall.Seconds(), oursWall.Round(time.Millisecond), media)
}

// TestHelperLadderFile is the child process of TestLadderCPUVsFFmpeg: it demuxes
// GLINT_LADDER_FILE with libav and pushes every video access unit through the default ladder.
func TestHelperLadderFile(t *testing.T) {
	path := os.Getenv("GLINT_LADDER_FILE")
	if path == "" {
		t.Skip("child process of TestLadderCPUVsFFmpeg")
	}
	if err := pushFile(path, 0, func(w, h int) (pusher, error) {
		return NewLadder(LadderConfig{Rungs: DefaultLadder(w, h), MaxLoad: -1, Output: func(int, Encoded) {},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestHelperHEVCLadderFile is the child process of TestHEVCLadderCPUVsFFmpeg: it demuxes
// GLINT_LADDER_FILE (H.265) with libav and pushes every access unit through the re-encoder
// and its output through the default ladder, as ingest and the HLS bridge do.
func TestHelperHEVCLadderFile(t *testing.T) {
	path := os.Getenv("GLINT_LADDER_FILE")
	if path == "" {
		t.Skip("child process of TestHEVCLadderCPUVsFFmpeg")
	}
	if err := pushFile(path, 0, func(w, h int) (pusher, error) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		re, err := NewReencoder(ReencoderConfig{SourceCodec: "H265", FPS: 30, Log: log})
		if err != nil {
			return nil, err
		}
		l, err := NewLadder(LadderConfig{Rungs: DefaultLadder(w, h), MaxLoad: -1, Output: func(int, Encoded) {}, Log: log})
		if err != nil {
			re.Close()
			return nil, err
		}
		return &reencodedLadder{re: re, l: l}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// pusher is what pushFile feeds: a *Ladder or a reencodedLadder.
type pusher interface {
	Push(Encoded) error
	Flush() error
	Close() error
}

// reencodedLadder is the H.265 path: the re-encoder's H.264 output feeds the ladder.
type reencodedLadder struct {
	re *Reencoder
	l  *Ladder
}

func (r *reencodedLadder) Push(in Encoded) error {
	outs, err := r.re.Push(in)
	return r.feed(outs, err)
}

func (r *reencodedLadder) feed(outs []Encoded, err error) error {
	for _, o := range outs {
		if err := r.l.Push(o); err != nil {
			return err
		}
	}
	return err
}

func (r *reencodedLadder) Flush() error {
	if err := r.feed(r.re.Flush()); err != nil {
		return err
	}
	return r.l.Flush()
}

func (r *reencodedLadder) Close() error {
	r.re.Close()
	return r.l.Close()
}

// pushFile demuxes the first video stream of path with libav and pushes up to maxFrames
// (0: all) access units through what open returns for the stream's size.
func pushFile(path string, maxFrames int, open func(w, h int) (pusher, error)) error {
	fc := astiav.AllocFormatContext()
	defer fc.Free()
	if err := fc.OpenInput(path, nil, nil); err != nil {
		return err
	}
	defer fc.CloseInput()
	if err := fc.FindStreamInfo(nil); err != nil {
		return err
	}
	st := fc.Streams()[0]
	tb := st.TimeBase()
	l, err := open(st.CodecParameters().Width(), st.CodecParameters().Height())
	if err != nil {
		return err
	}
	defer l.Close()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	toDur := func(v int64) time.Duration {
		return time.Duration(v) * time.Second * time.Duration(tb.Num()) / time.Duration(tb.Den())
	}
	for n := 0; maxFrames == 0 || n < maxFrames; {
		if err := fc.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				break
			}
			return err
		}
		if pkt.StreamIndex() == st.Index() {
			n++
			e := Encoded{Data: pkt.Data(), PTS: toDur(pkt.Pts()), DTS: toDur(pkt.Dts()),
				Keyframe: pkt.Flags().Has(astiav.PacketFlagKey)}
			if err := l.Push(e); err != nil {
				return err
			}
		}
		pkt.Unref()
	}
	return l.Flush()
}

// x264Options returns the settings string libx264 writes into its first SEI.
func x264Options(b []byte) string {
	i := bytes.Index(b, []byte("options: "))
	if i < 0 {
		return ""
	}
	end := bytes.IndexByte(b[i:], 0)
	if end < 0 {
		end = len(b) - i
	}
	return string(b[i : i+end])
}

// checkSameSettings encodes the 480p rung with the ffmpeg CLI and with the ladder and compares
// the x264 settings both wrote into the stream.
func checkSameSettings(t *testing.T, input string) {
	out := filepath.Join(t.TempDir(), "480.h264")
	args := append([]string{"-loglevel", "error", "-threads", "1", "-i", input, "-vf", "scale=854:480:flags=bicubic"},
		ffmpegX264Args("1200k")...)
	cmd := exec.Command("ffmpeg", append(args, "-frames:v", "5", "-f", "h264", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	theirs, _ := os.ReadFile(out)
	var ours []byte
	if err := pushFile(input, 5, func(w, h int) (pusher, error) {
		return NewLadder(LadderConfig{Rungs: DefaultLadder(w, h), MaxLoad: -1, Log: testLog(t),
			Output: func(r int, e Encoded) {
				if r == 1 && ours == nil {
					ours = e.Data
				}
			}})
	}); err != nil {
		t.Fatal(err)
	}
	if a, b := x264Options(ours), x264Options(theirs); a == "" || a != b {
		t.Fatalf("x264 settings differ:\nglint:  %s\nffmpeg: %s", a, b)
	}
	t.Logf("same x264 settings: %s", x264Options(ours))
}

// cpuOf runs cmd and returns its user+system CPU seconds (all threads) and wall time.
func cpuOf(t *testing.T, cmd *exec.Cmd, env []string) (float64, time.Duration) {
	t.Helper()
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd.Path, err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	tv := func(v syscall.Timeval) float64 { return float64(v.Sec) + float64(v.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), wall
}

func mustSeconds(t *testing.T, s string) float64 {
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ;[]()*,:'") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
