package hls

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/media"
)

// testMedia is real H.264 (two sizes, same GOP) and AAC made once per test binary by the
// ffmpeg CLI, split into samples the way a bridge would hand them over.
type testMedia struct {
	video map[string][]Sample // rendition → access units (AVCC), 30 fps, keyframe every 2 s
	vinfo map[string]VideoTrackInfo
	audio []Sample // raw AAC frames, 48 kHz stereo
	ainfo AudioTrackInfo
}

const (
	mediaLength = 16 * time.Second // whole GOPs and whole AAC frames
	fps         = 30
)

var sharedMedia struct {
	once sync.Once
	m    *testMedia
	err  error
}

// loadMedia returns the test media, failing the test when ffmpeg is missing or fails.
func loadMedia(t testing.TB) *testMedia {
	t.Helper()
	sharedMedia.once.Do(func() { sharedMedia.m, sharedMedia.err = makeMedia() })
	if sharedMedia.err != nil {
		t.Fatalf("test media: %v", sharedMedia.err)
	}
	return sharedMedia.m
}

func makeMedia() (*testMedia, error) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, fmt.Errorf("ffmpeg is required: %w", err)
	}
	dir, err := os.MkdirTemp("", "hls-media-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	secs := fmt.Sprint(mediaLength.Seconds())
	x264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "60", "-keyint_min", "60",
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", "-f", "h264"}
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-t", secs, "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", fps),
		"-f", "lavfi", "-t", secs, "-i", "sine=frequency=440:sample_rate=48000"}
	args = append(append(append(args, "-map", "0:v"), x264...), filepath.Join(dir, "hi.h264"))
	args = append(append(append(args, "-map", "0:v", "-vf", "scale=160:120"), x264...), filepath.Join(dir, "lo.h264"))
	args = append(args, "-map", "1:a", "-ac", "2", "-c:a", "aac", "-b:a", "64k", "-f", "adts", filepath.Join(dir, "a.aac"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	m := &testMedia{video: map[string][]Sample{}, vinfo: map[string]VideoTrackInfo{}}
	for _, r := range []string{"hi", "lo"} {
		data, err := os.ReadFile(filepath.Join(dir, r+".h264"))
		if err != nil {
			return nil, err
		}
		if m.video[r], m.vinfo[r], err = h264Samples(data); err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "a.aac"))
	if err != nil {
		return nil, err
	}
	if m.audio, m.ainfo, err = adtsSamples(data); err != nil {
		return nil, err
	}
	return m, nil
}

// h264Samples splits an Annex-B stream into access units (a new one at a non-VCL NAL after
// a slice, or at a slice with first_mb_in_slice 0) in AVCC form.
func h264Samples(stream []byte) ([]Sample, VideoTrackInfo, error) {
	var info VideoTrackInfo
	var samples []Sample
	var au []byte
	var key, vcl bool
	flush := func() {
		if len(au) > 0 {
			dts := time.Duration(len(samples)) * time.Second / fps
			samples = append(samples, Sample{Data: au, DTS: dts, PTS: dts, Keyframe: key, Duration: time.Second / fps})
		}
		au, key, vcl = nil, false, false
	}
	for nalu := range media.SplitAnnexB(stream) {
		typ := nalu[0] & 0x1f
		isVCL := typ >= 1 && typ <= 5
		if vcl && (!isVCL || len(nalu) > 1 && nalu[1]&0x80 != 0) {
			flush()
		}
		switch typ {
		case 5:
			key = true
		case 7:
			info.SPS = nalu
		case 8:
			info.PPS = nalu
		}
		vcl = vcl || isVCL
		au = binary.BigEndian.AppendUint32(au, uint32(len(nalu)))
		au = append(au, nalu...)
	}
	flush()
	if len(samples) == 0 || info.SPS == nil || info.PPS == nil || !samples[0].Keyframe {
		return nil, info, fmt.Errorf("no H.264 access units with SPS/PPS and a leading keyframe")
	}
	info.FPS, info.BitrateKbps = fps, 300
	return samples, info, nil
}

// adtsSamples strips ADTS headers into raw AAC frames and builds the AudioSpecificConfig.
func adtsSamples(b []byte) ([]Sample, AudioTrackInfo, error) {
	rates := []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}
	var info AudioTrackInfo
	var samples []Sample
	for len(b) >= 7 {
		if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
			return nil, info, fmt.Errorf("ADTS sync lost")
		}
		profile, freq := b[2]>>6, int(b[2]>>2&0xf)
		channels := int(b[2]&1)<<2 | int(b[3]>>6)
		size := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		hdr := 7
		if b[1]&1 == 0 {
			hdr = 9
		}
		if size < hdr || size > len(b) || freq >= len(rates) {
			return nil, info, fmt.Errorf("bad ADTS frame")
		}
		if info.ASC == nil {
			obj := profile + 1
			info = AudioTrackInfo{SampleRate: rates[freq], Channels: channels, BitrateKbps: 64,
				ASC: []byte{obj<<3 | byte(freq>>1), byte(freq&1)<<7 | byte(channels)<<3}}
		}
		dts := time.Duration(len(samples)*1024) * time.Second / time.Duration(info.SampleRate)
		samples = append(samples, Sample{Data: b[hdr:size], DTS: dts, PTS: dts, Keyframe: true,
			Duration: 1024 * time.Second / time.Duration(info.SampleRate)})
		b = b[size:]
	}
	if len(samples) == 0 {
		return nil, info, fmt.Errorf("no ADTS frames")
	}
	return samples, info, nil
}

// feeder writes test media into a Stream's tracks in DTS order across tracks, looping it.
type feeder struct {
	t      testing.TB
	m      *testMedia
	tracks []*Track // video renditions, then audio
	kinds  []string // media key per track: "hi", "lo" or "a"
	next   []int    // per track: index of the next sample, counting loops
	start  time.Time
}

func newFeeder(t testing.TB, m *testMedia, s *Stream, renditions ...string) *feeder {
	t.Helper()
	f := &feeder{t: t, m: m, start: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, r := range renditions {
		var tr *Track
		var err error
		if r == AudioRendition {
			tr, err = s.AddAudio(m.ainfo)
		} else {
			tr, err = s.AddVideo(r, m.vinfo[r])
		}
		if err != nil {
			t.Fatalf("add %s: %v", r, err)
		}
		f.tracks, f.kinds, f.next = append(f.tracks, tr), append(f.kinds, r), append(f.next, 0)
	}
	return f
}

// sample returns track i's n-th sample, DTS shifted by the loops before it.
func (f *feeder) sample(i, n int) Sample {
	list := f.m.audio
	if f.kinds[i] != AudioRendition {
		list = f.m.video[f.kinds[i]]
	}
	s := list[n%len(list)]
	last := list[len(list)-1]
	shift := time.Duration(n/len(list)) * (last.DTS + last.Duration) // seamless per track
	s.DTS, s.PTS = s.DTS+shift, s.PTS+shift
	s.CaptureTime = f.start.Add(s.DTS)
	return s
}

// peek returns the track with the earliest next sample and that sample.
func (f *feeder) peek() (int, Sample) {
	best, bestSmp := -1, Sample{}
	for i := range f.tracks {
		if smp := f.sample(i, f.next[i]); best < 0 || smp.DTS < bestSmp.DTS {
			best, bestSmp = i, smp
		}
	}
	return best, bestSmp
}

// writeNext writes the earliest pending sample of all tracks.
func (f *feeder) writeNext() error {
	i, smp := f.peek()
	f.next[i]++
	if err := f.tracks[i].WriteSample(smp); err != nil {
		return fmt.Errorf("write %s sample %d: %w", f.kinds[i], f.next[i]-1, err)
	}
	return nil
}

// reconnect is a publisher reconnecting: every track gets Discontinuity(nil) and the
// samples start again from the first, at timestamp zero.
func (f *feeder) reconnect() {
	f.t.Helper()
	for _, tr := range f.tracks {
		if err := tr.Discontinuity(nil); err != nil {
			f.t.Fatal(err)
		}
	}
	for i := range f.next {
		f.next[i] = 0
	}
}

// feedUntil writes every sample with DTS before until.
func (f *feeder) feedUntil(until time.Duration) {
	f.t.Helper()
	for {
		if _, smp := f.peek(); smp.DTS >= until {
			return
		}
		if err := f.writeNext(); err != nil {
			f.t.Fatal(err)
		}
	}
}

// feedRealTime writes samples at their DTS pace from now until ctx ends or the media
// time reaches until; it may run in its own goroutine.
func (f *feeder) feedRealTime(ctx context.Context, until time.Duration) error {
	t0 := time.Now()
	_, first := f.peek()
	for {
		_, smp := f.peek()
		if smp.DTS >= until {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(t0.Add(smp.DTS - first.DTS))):
		}
		if err := f.writeNext(); err != nil {
			return err
		}
	}
}
