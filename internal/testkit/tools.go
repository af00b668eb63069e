package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// RequireTool returns the path of an external program; the test fails (it never skips) when
// the program is missing.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required (scripts/install-deps.sh installs it): %v", name, err)
	}
	return p
}

// Command runs a program to its end, for at most timeout, and returns its combined output.
func Command(ctx context.Context, timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second // grandchildren holding the output must not hang Wait
	return cmd.CombinedOutput()
}

// Stream is one stream as ffprobe reports it.
type Stream struct {
	Codec         string // codec_name: h264, aac, opus...
	Width, Height int
	Channels      int
	SampleRate    int
	Frames        int // frames decoded; only when ProbeStreams was given a decode duration, or by ProbePackets
}

// String is "h264 320x240" for video and "aac 2ch 48000" for audio.
func (s Stream) String() string {
	if s.Channels > 0 {
		return fmt.Sprintf("%s %dch %d", s.Codec, s.Channels, s.SampleRate)
	}
	return fmt.Sprintf("%s %dx%d", s.Codec, s.Width, s.Height)
}

// ProbeStreams has ffprobe read url (a file or a playlist URL) and returns its streams. With
// decode > 0 ffprobe decodes that much of the input and each Stream counts its frames. Any
// output of ffprobe on stderr (at -v error) is an error, as is a timeout of one minute.
func ProbeStreams(ctx context.Context, url string, decode time.Duration) ([]Stream, error) {
	interval := ""
	if decode > 0 {
		interval = "%+" + strconv.FormatFloat(decode.Seconds(), 'f', -1, 64)
	}
	return probe(ctx, url, interval)
}

// ProbePackets is ProbeStreams that decodes the input's first packets packets, however long
// they last: a live stream's timeline may hold a gap (a source that fell behind real time),
// which a decode duration would count against the frames.
func ProbePackets(ctx context.Context, url string, packets int) ([]Stream, error) {
	return probe(ctx, url, "%+#"+strconv.Itoa(packets))
}

// probe runs ffprobe on url, decoding what the read interval (ffprobe's -read_intervals;
// none: nothing is decoded) covers.
func probe(ctx context.Context, url, interval string) ([]Stream, error) {
	args := []string{"-v", "error"}
	if interval != "" {
		args = append(args, "-count_frames", "-read_intervals", interval)
	}
	args = append(args, "-show_entries", "stream=codec_name,width,height,channels,sample_rate,nb_read_frames",
		"-of", "json", url)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return nil, fmt.Errorf("ffprobe %s: %v: %s", url, err, Tail(stderr.String(), 2000))
	}
	var res struct {
		Streams []struct {
			Codec      string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			Channels   int    `json:"channels"`
			SampleRate string `json:"sample_rate"`
			Frames     string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("ffprobe %s: output %s: %w", url, out, err)
	}
	streams := make([]Stream, len(res.Streams))
	for i, s := range res.Streams {
		streams[i] = Stream{Codec: s.Codec, Width: s.Width, Height: s.Height, Channels: s.Channels}
		streams[i].SampleRate, _ = strconv.Atoi(s.SampleRate) // absent for video
		streams[i].Frames, _ = strconv.Atoi(s.Frames)         // absent without decode
	}
	return streams, nil
}

// ProbeStream is ProbeStreams for an input that must hold exactly one stream.
func ProbeStream(ctx context.Context, url string, decode time.Duration) (Stream, error) {
	return oneStream(url)(ProbeStreams(ctx, url, decode))
}

// ProbePacketStream is ProbePackets for an input that must hold exactly one stream.
func ProbePacketStream(ctx context.Context, url string, packets int) (Stream, error) {
	return oneStream(url)(ProbePackets(ctx, url, packets))
}

// oneStream returns the check that a probe of url found exactly one stream.
func oneStream(url string) func([]Stream, error) (Stream, error) {
	return func(streams []Stream, err error) (Stream, error) {
		if err != nil {
			return Stream{}, err
		}
		if len(streams) != 1 {
			return Stream{}, fmt.Errorf("ffprobe %s: %d streams %v, want one", url, len(streams), streams)
		}
		return streams[0], nil
	}
}
