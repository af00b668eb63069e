package dvr

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
)

// testSource is real H.264 (two renditions, a keyframe every 2 s) and AAC made once by the
// ffmpeg CLI, split into access units and frames.
type testSource struct {
	video map[string][]hls.Sample
	audio []hls.Sample
	ainfo hls.AudioTrackInfo
	span  time.Duration // of one loop of the media
}

var sharedSource struct {
	once sync.Once
	src  *testSource
	err  error
}

const sourceFPS = 30

func loadSource(t testing.TB) *testSource {
	t.Helper()
	sharedSource.once.Do(func() { sharedSource.src, sharedSource.err = makeSource() })
	if sharedSource.err != nil {
		t.Fatalf("test media (ffmpeg is required): %v", sharedSource.err)
	}
	return sharedSource.src
}

func makeSource() (*testSource, error) {
	dir, err := os.MkdirTemp("", "dvr-media-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	const secs = "10"
	x264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "60", "-keyint_min", "60",
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", "-x264-params", "aud=1", "-f", "h264"}
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-t", secs, "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", sourceFPS),
		"-f", "lavfi", "-t", secs, "-i", "sine=frequency=440:sample_rate=48000"}
	args = append(append(append(args, "-map", "0:v"), x264...), filepath.Join(dir, "hi.h264"))
	args = append(append(append(args, "-map", "0:v", "-vf", "scale=160:120"), x264...), filepath.Join(dir, "lo.h264"))
	args = append(args, "-map", "1:a", "-ac", "2", "-c:a", "aac", "-b:a", "64k", "-f", "adts", filepath.Join(dir, "a.aac"))
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	src := &testSource{video: map[string][]hls.Sample{}, span: 10 * time.Second}
	for _, r := range []string{"hi", "lo"} {
		data, err := os.ReadFile(filepath.Join(dir, r+".h264"))
		if err != nil {
			return nil, err
		}
		src.video[r] = accessUnits(data)
	}
	data, err := os.ReadFile(filepath.Join(dir, "a.aac"))
	if err != nil {
		return nil, err
	}
	src.audio = aacFrames(data)
	src.ainfo = hls.AudioTrackInfo{SampleRate: 48000, Channels: 2, ASC: []byte{0x11, 0x90}, BitrateKbps: 64}
	return src, nil
}

// accessUnits splits an Annex-B stream at its access unit delimiters.
func accessUnits(stream []byte) []hls.Sample {
	var out []hls.Sample
	for nalu := range media.SplitAnnexB(stream) {
		typ := nalu[0] & 0x1f
		if typ == 9 || len(out) == 0 {
			dts := time.Duration(len(out)) * time.Second / sourceFPS
			out = append(out, hls.Sample{DTS: dts, PTS: dts, Duration: time.Second / sourceFPS})
		}
		au := &out[len(out)-1]
		au.Keyframe = au.Keyframe || typ == 5
		au.Data = append(append(au.Data, 0, 0, 0, 1), nalu...)
	}
	return out
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
	tr := &testRecording{id: id, start: start}
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
	list := src.audio
	if tr.kinds[i] != hls.AudioRendition {
		list = src.video[tr.kinds[i]]
	}
	s := list[n%len(list)]
	shift := time.Duration(n/len(list))*src.span + tr.origin
	s.DTS, s.PTS = s.DTS+shift, s.PTS+shift
	s.CaptureTime = tr.start.Add(s.DTS)
	return s
}

// feed writes d more of media, every track in DTS order.
func (tr *testRecording) feed(t testing.TB, d time.Duration) {
	t.Helper()
	src := loadSource(t)
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
