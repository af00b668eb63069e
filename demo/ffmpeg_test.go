package demo

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestFFmpegArgs(t *testing.T) {
	opts := Options{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300}
	tests := []struct {
		name  string
		font  string
		wants []string // each must appear as one argument or inside one
	}{
		{"with font", fontFile, []string{
			"testsrc2=size=320x240:rate=15", "sine=frequency=440",
			"fontfile=" + fontFile, "fontsize=24", "localtime", "RTCTIME",
			"rtp://127.0.0.1:5000?pkt_size=1200", "rtp://127.0.0.1:5002?pkt_size=1200",
			"libx264", "zerolatency", "baseline", "libopus", "skip_rtcp", "300k",
		}},
		{"without font", "", []string{"drawtext=fontsize=24:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := ffmpegArgs(opts, 5000, 5002, tt.font)
			joined := strings.Join(args, " ")
			for _, want := range tt.wants {
				if !strings.Contains(joined, want) {
					t.Errorf("ffmpeg args lack %q:\n%s", want, joined)
				}
			}
			if i := slices.Index(args, "-g"); i < 0 || args[i+1] != "15" {
				t.Errorf("want -g 15 (a keyframe every second), args: %s", joined)
			}
			if i := slices.Index(args, "-bf"); i < 0 || args[i+1] != "0" {
				t.Errorf("want -bf 0 (no B-frames for WebRTC), args: %s", joined)
			}
			if tt.font == "" && strings.Contains(joined, "fontfile") {
				t.Errorf("fontfile set although no font was given: %s", joined)
			}
		})
	}
}

func TestLineLoggerSplitsLines(t *testing.T) {
	var out bytes.Buffer
	l := &lineLogger{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, chunk := range []string{"first li", "ne\nsecond\r\n", "\nthird"} {
		if _, err := l.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	l.flush()
	var lines []string
	for _, rec := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		_, line, _ := strings.Cut(rec, "line=")
		lines = append(lines, strings.Trim(line, `"`))
	}
	want := []string{"first line", "second", "third"}
	if !slices.Equal(lines, want) {
		t.Errorf("logged lines = %q, want %q", lines, want)
	}
}

func TestIsRTP(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"h264 rtp", []byte{0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, true},
		{"rtp with marker", []byte{0x80, 0xe0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, true},
		{"rtcp sender report", []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0}, false},
		{"rtcp bye", []byte{0x81, 203, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, false},
		{"version 1", []byte{0x40, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, false},
		{"short", []byte{0x80, 0x60, 0, 1}, false},
	}
	for _, tt := range tests {
		if got := isRTP(tt.pkt); got != tt.want {
			t.Errorf("%s: isRTP = %v, want %v", tt.name, got, tt.want)
		}
	}
}
