package dvr

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
)

// testSource is real H.264 (renditions "hi" 320x240 and "lo" 160x120, a keyframe every
// 2 s: feed_test.go's clips, 4 s long) and AAC (8 s of a tone made once by the ffmpeg CLI),
// each looped seamlessly.
type testSource struct {
	video     map[string][]hls.Sample
	audio     []hls.Sample
	ainfo     hls.AudioTrackInfo
	videoSpan time.Duration // of one loop
	audioSpan time.Duration
}

var sharedAudio struct {
	once   sync.Once
	frames []hls.Sample
	err    error
}

const (
	sourceFPS = feedFPS
	audioSpan = 8 * time.Second // 375 AAC frames of 1024 samples at 48 kHz: loops seamlessly
)

func loadSource(t testing.TB) *testSource {
	t.Helper()
	src := &testSource{video: map[string][]hls.Sample{},
		ainfo: hls.AudioTrackInfo{SampleRate: 48000, Channels: 2, ASC: []byte{0x11, 0x90}, BitrateKbps: 64}}
	for _, r := range []struct {
		name string
		w, h int
	}{{"hi", 320, 240}, {"lo", 160, 120}} {
		aus := clip(t, r.w, r.h)
		for i, au := range aus {
			dts := time.Duration(i) * time.Second / sourceFPS
			src.video[r.name] = append(src.video[r.name], hls.Sample{Data: au.Data, DTS: dts, PTS: dts,
				Keyframe: au.Keyframe, Duration: time.Second / sourceFPS})
		}
		src.videoSpan = time.Duration(len(aus)) * time.Second / sourceFPS
	}
	sharedAudio.once.Do(func() { sharedAudio.frames, sharedAudio.err = makeAudio() })
	if sharedAudio.err != nil {
		t.Fatalf("test audio (ffmpeg is required): %v", sharedAudio.err)
	}
	src.audio, src.audioSpan = sharedAudio.frames, audioSpan
	return src
}

// makeAudio encodes a 440 Hz tone to AAC and keeps its first audioSpan of frames.
func makeAudio() ([]hls.Sample, error) {
	dir, err := os.MkdirTemp("", "dvr-audio-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "a.aac")
	if out, err := testkit.Command(context.Background(), time.Minute, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-t", "9",
		"-i", "sine=frequency=440:sample_rate=48000", "-ac", "2", "-c:a", "aac", "-b:a", "64k", "-f", "adts", file); err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	frames := aacFrames(data)
	n := int(audioSpan * 48000 / 1024 / time.Second)
	if len(frames) < n {
		return nil, fmt.Errorf("%d AAC frames, want %d", len(frames), n)
	}
	return frames[:n], nil
}

// aacFrames strips the ADTS headers of 48 kHz AAC.
func aacFrames(b []byte) []hls.Sample {
	var out []hls.Sample
	for len(b) >= 7 {
		size, hdr := int(b[3]&3)<<11|int(b[4])<<3|int(b[5])>>5, 7
		if b[1]&1 == 0 {
			hdr = 9
		}
		if size < hdr || size > len(b) {
			break
		}
		dts := time.Duration(len(out)*1024) * time.Second / 48000
		out = append(out, hls.Sample{Data: b[hdr:size], DTS: dts, PTS: dts, Keyframe: true, Duration: 1024 * time.Second / 48000})
		b = b[size:]
	}
	return out
}

// testRecording is a recording made by feeding the test media through an hls.Stream.
type testRecording struct {
	src    *testSource
	id     string
	start  time.Time
	stream *hls.Stream
	tracks []*hls.Track
	kinds  []string
	next   []int
	fed    time.Duration // media time written (DTS clock)
	origin time.Duration // the DTS clock at the last reconnect
}

// startRecording starts a recording of room by the Library: renditions "hi", "lo" and audio.
func startRecording(t testing.TB, lib *Library, room string, start time.Time) *testRecording {
	t.Helper()
	src := loadSource(t)
	id := room + "." + start.UTC().Format("20060102T150405Z")
	tr := &testRecording{src: src, id: id, start: start}
	tr.stream = hls.NewStream(room, hls.Config{Sink: lib}, quietLog())
	for _, r := range []string{"hi", "lo"} {
		track, err := tr.stream.AddVideo(r, hls.VideoTrackInfo{FPS: sourceFPS, BitrateKbps: 300})
		if err != nil {
			t.Fatal(err)
		}
		tr.tracks, tr.kinds = append(tr.tracks, track), append(tr.kinds, r)
	}
	track, err := tr.stream.AddAudio(src.ainfo)
	if err != nil {
		t.Fatal(err)
	}
	tr.tracks, tr.kinds = append(tr.tracks, track), append(tr.kinds, hls.AudioRendition)
	tr.next = make([]int, len(tr.tracks))
	return tr
}

// sample returns track i's n-th sample on the recording's clock (looping the media).
func (tr *testRecording) sample(src *testSource, i, n int) hls.Sample {
	list, span := src.audio, src.audioSpan
	if tr.kinds[i] != hls.AudioRendition {
		list, span = src.video[tr.kinds[i]], src.videoSpan
	}
	s := list[n%len(list)]
	shift := time.Duration(n/len(list))*span + tr.origin
	s.DTS, s.PTS = s.DTS+shift, s.PTS+shift
	s.CaptureTime = tr.start.Add(s.DTS)
	return s
}

// feed writes d more of media, every track in DTS order.
func (tr *testRecording) feed(t testing.TB, d time.Duration) {
	t.Helper()
	src := tr.src
	until := tr.fed + d
	for {
		best, smp := -1, hls.Sample{}
		for i := range tr.tracks {
			if s := tr.sample(src, i, tr.next[i]); best < 0 || s.DTS < smp.DTS {
				best, smp = i, s
			}
		}
		if smp.DTS >= until {
			tr.fed = until
			return
		}
		tr.next[best]++
		if err := tr.tracks[best].WriteSample(smp); err != nil {
			t.Fatalf("write %s: %v", tr.kinds[best], err)
		}
	}
}

// reconnect is a publisher's reconnect after a pause: a discontinuity on every track, the
// media restarting from its beginning pause later on the wall clock.
func (tr *testRecording) reconnect(t testing.TB, pause time.Duration) {
	t.Helper()
	for _, track := range tr.tracks {
		if err := track.Discontinuity(nil); err != nil {
			t.Fatal(err)
		}
	}
	tr.fed += pause
	tr.origin = tr.fed
	for i := range tr.next {
		tr.next[i] = 0
	}
}

// end closes the stream: the recording ends.
func (tr *testRecording) end() { tr.stream.Close() }
