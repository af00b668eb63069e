package transcoder

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// collector gathers ladder outputs per rung.
type collector struct {
	mu  sync.Mutex
	out map[int][]Encoded
}

func (c *collector) add(rung int, e Encoded) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out == nil {
		c.out = map[int][]Encoded{}
	}
	c.out[rung] = append(c.out[rung], e)
}

func runLadder(t *testing.T, cfg LadderConfig, in []Encoded) (*collector, *Ladder) {
	t.Helper()
	c := &collector{}
	cfg.Output = c.add
	cfg.Log = testLog(t)
	if cfg.MaxLoad == 0 {
		cfg.MaxLoad = -1 // tests never assert wall-clock speed
	}
	l, err := NewLadder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, e := range in {
		if err := l.Push(e); err != nil {
			t.Fatalf("push %v: %v", e.PTS, err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	return c, l
}

func TestDefaultLadder(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want []string // name WxH
	}{
		{1280, 720, []string{"source 1280x720", "480p 854x480", "360p 640x360"}},
		{1920, 1080, []string{"source 1920x1080", "720p 1280x720", "480p 854x480", "360p 640x360"}},
		{640, 360, []string{"source 640x360"}},
		{640, 480, []string{"source 640x480", "360p 480x360"}},
	} {
		var got []string
		for _, r := range DefaultLadder(tc.w, tc.h) {
			got = append(got, r.Name+" "+itoa(r.Width)+"x"+itoa(r.Height))
			if r.BitrateKbps <= 0 || r.Passthrough != (r.Name == "source") {
				t.Errorf("%dx%d: bad rung %+v", tc.w, tc.h, r)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("DefaultLadder(%d, %d) = %v, want %v", tc.w, tc.h, got, tc.want)
		}
	}
}

func TestCustomLadder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		w, h   int
		source bool
		specs  []RungSpec
		want   []string // name WxH@kbps
	}{
		{"source and two rungs", 1280, 720, true, []RungSpec{{480, 900}, {240, 0}},
			[]string{"source 1280x720@2500", "480p 854x480@900", "240p 426x240@400"}},
		{"re-encoded only", 1920, 1080, false, []RungSpec{{720, 3000}},
			[]string{"720p 1280x720@3000"}},
		{"rungs at or above the source are left out", 640, 360, true, []RungSpec{{720, 0}, {360, 0}, {180, 200}},
			[]string{"source 640x360@700", "180p 320x180@200"}},
		{"nothing left: the source is passed through", 640, 360, false, []RungSpec{{720, 0}},
			[]string{"source 640x360@700"}},
	} {
		var got []string
		for _, r := range CustomLadder(tc.w, tc.h, tc.source, tc.specs) {
			got = append(got, r.Name+" "+itoa(r.Width)+"x"+itoa(r.Height)+"@"+itoa(r.BitrateKbps))
			if r.Passthrough != (r.Name == "source") {
				t.Errorf("%s: bad rung %+v", tc.name, r)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: CustomLadder = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// checkRung decodes one re-encoded rung and checks size, no B-frames, IDRs exactly on the
// wanted picture indexes (Boundary set on them), and PTS carried from the source.
func checkRung(t *testing.T, name string, out []Encoded, w, h int, wantKeys []int, srcPTS []time.Duration) {
	t.Helper()
	if len(out) != len(srcPTS) {
		t.Fatalf("%s: %d outputs, want %d", name, len(out), len(srcPTS))
	}
	var keys, bounds []int
	for i, e := range out {
		if e.PTS != srcPTS[i] || e.DTS != e.PTS {
			t.Fatalf("%s: output %d PTS %v DTS %v, want %v", name, i, e.PTS, e.DTS, srcPTS[i])
		}
		if HasBFrames(e.Data) {
			t.Fatalf("%s: output %d has a B slice", name, i)
		}
		if e.Keyframe {
			keys = append(keys, i)
			if !hasIDR(e.Data) {
				t.Errorf("%s: keyframe %d is not an IDR", name, i)
			}
		}
		if e.Boundary {
			bounds = append(bounds, i)
		}
	}
	if !slices.Equal(keys, wantKeys) || !slices.Equal(bounds, wantKeys) {
		t.Errorf("%s: keyframes at %v, boundaries at %v, want %v", name, keys, bounds, wantKeys)
	}
	pics := decodeAll(t, astiav.CodecIDH264, out)
	if len(pics) != len(out) {
		t.Fatalf("%s: decoded %d pictures of %d", name, len(pics), len(out))
	}
	for i, p := range pics {
		if p.w != w || p.h != h {
			t.Fatalf("%s: picture %d is %dx%d, want %dx%d", name, i, p.w, p.h, w, h)
		}
		if p.typ == astiav.PictureTypeB {
			t.Fatalf("%s: picture %d decoded as B", name, i)
		}
	}
}

func displayPTS(in []Encoded) []time.Duration {
	var pts []time.Duration
	for _, e := range in {
		pts = append(pts, e.PTS)
	}
	slices.Sort(pts)
	return pts
}

func TestLadderH264(t *testing.T) {
	for _, bframes := range []int{0, 2} {
		t.Run("bframes="+itoa(bframes), func(t *testing.T) {
			in := synthVideo(t, "H264", 640, 360, 30, 90, bframes, 30)
			rungs := []Rung{{Name: "source", Width: 640, Height: 360, Passthrough: true},
				{Name: "240p", Height: 240, BitrateKbps: 400}, {Name: "180p", Width: 320, Height: 180, BitrateKbps: 250}}
			c, l := runLadder(t, LadderConfig{Rungs: rungs, SegmentDuration: time.Second}, in)
			pass := c.out[0]
			if len(pass) != len(in) {
				t.Fatalf("passthrough: %d outputs, want %d", len(pass), len(in))
			}
			for i := range in {
				if !bytes.Equal(pass[i].Data, in[i].Data) || pass[i].PTS != in[i].PTS || pass[i].DTS != in[i].DTS {
					t.Fatalf("passthrough output %d differs from input", i)
				}
				if pass[i].Boundary != (in[i].Keyframe) {
					t.Errorf("passthrough output %d boundary %v keyframe %v", i, pass[i].Boundary, in[i].Keyframe)
				}
			}
			src := displayPTS(in)
			checkRung(t, "240p", c.out[1], 426, 240, []int{0, 30, 60}, src)
			checkRung(t, "180p", c.out[2], 320, 180, []int{0, 30, 60}, src)
			if got := l.Rungs(); got[1].Width != 426 || got[2].Height != 180 || !l.Active(1) {
				t.Errorf("Rungs() = %+v", got)
			}
		})
	}
}

// TestLadderOtherCodecs: VP8 and VP9 sources are decoded and every rung, the source-sized
// one too, is encoded to H.264. H.265 and AV1 (libdav1d) sources go through a Passthrough
// rung as they are, and a SourceSize rung encodes the source's size to H.264; the encoded
// rungs then get their IDRs on the source's keyframes (the passthrough leads segmentation).
func TestLadderOtherCodecs(t *testing.T) {
	for _, codec := range []string{"VP8", "VP9", "H265", "AV1"} {
		t.Run(codec, func(t *testing.T) {
			// Source keyframes every 45 pictures; the ladder still cuts every 30 (1 s).
			in := synthVideo(t, codec, 320, 240, 30, 75, 0, 45)
			for i, e := range in {
				if got := isKeyframe(codec, Encoded{Data: e.Data}); got != e.Keyframe {
					t.Fatalf("frame %d: isKeyframe = %v, libav says %v", i, got, e.Keyframe)
				}
			}
			rungs := []Rung{{Name: "source", Width: 320, Height: 240, Passthrough: true, BitrateKbps: 500},
				{Name: "180p", Height: 180, BitrateKbps: 250}}
			if CanPassThrough(codec) {
				rungs = slices.Insert(rungs, 1, Rung{Name: "240p", Height: 200, BitrateKbps: 500, SourceSize: true})
			}
			c, _ := runLadder(t, LadderConfig{SourceCodec: codec, Rungs: rungs, SegmentDuration: time.Second}, in)
			src := displayPTS(in)
			if !CanPassThrough(codec) {
				checkRung(t, "source", c.out[0], 320, 240, []int{0, 30, 60}, src)
				checkRung(t, "180p", c.out[1], 240, 180, []int{0, 30, 60}, src)
				return
			}
			if len(c.out[0]) != len(in) {
				t.Fatalf("passthrough: %d outputs, want %d", len(c.out[0]), len(in))
			}
			for i := range in {
				if !bytes.Equal(c.out[0][i].Data, in[i].Data) || c.out[0][i].Boundary != in[i].Keyframe {
					t.Fatalf("passthrough output %d differs from the input", i)
				}
			}
			checkRung(t, "240p (source size)", c.out[1], 320, 240, []int{0, 45}, src)
			checkRung(t, "180p", c.out[2], 240, 180, []int{0, 45}, src)
		})
	}
}

func TestLadderResolutionChange(t *testing.T) {
	first := synthVideo(t, "H264", 640, 360, 30, 30, 0, 30)
	second := synthVideo(t, "H264", 320, 240, 30, 30, 0, 30)
	for i := range second {
		second[i].PTS += time.Second
		second[i].DTS += time.Second
	}
	rungs := []Rung{{Name: "source", Passthrough: true}, {Name: "180p", Width: 320, Height: 180, BitrateKbps: 250}}
	c, l := runLadder(t, LadderConfig{Rungs: rungs, SegmentDuration: time.Second}, append(first, second...))
	out := c.out[1]
	if len(out) != 60 {
		t.Fatalf("%d outputs, want 60", len(out))
	}
	pics := decodeAll(t, astiav.CodecIDH264, out)
	if pics[0].w != 320 || pics[59].w != 240 || pics[59].h != 180 {
		t.Errorf("sizes %dx%d then %dx%d, want 320x180 then 240x180", pics[0].w, pics[0].h, pics[59].w, pics[59].h)
	}
	if r := l.Rungs()[1]; r.Width != 240 || r.Height != 180 {
		t.Errorf("Rungs()[1] = %+v after change", r)
	}
}

func TestLadderCorruptInput(t *testing.T) {
	in := synthVideo(t, "H264", 320, 240, 30, 60, 0, 30)
	var feed []Encoded
	feed = append(feed, Encoded{Data: []byte{0, 0, 1, 0x65, 0xff, 0xff}, PTS: testBase - time.Second})
	for i, e := range in {
		feed = append(feed, e)
		if i == 10 {
			feed = append(feed, Encoded{Data: bytes.Repeat([]byte{0, 0, 1, 0x41, 0x9a}, 50), PTS: e.PTS + time.Millisecond})
			feed = append(feed, Encoded{Data: nil, PTS: e.PTS + 2*time.Millisecond})
			trunc := in[11]
			trunc.Data = trunc.Data[:len(trunc.Data)/3]
			trunc.PTS += 3 * time.Millisecond
			feed = append(feed, trunc)
		}
	}
	rungs := []Rung{{Name: "120p", Width: 160, Height: 120, BitrateKbps: 150}}
	level := astiav.GetLogLevel()
	astiav.SetLogLevel(astiav.LogLevelQuiet) // the h264 decoder complains about every bad slice
	defer astiav.SetLogLevel(level)
	c, l := runLadder(t, LadderConfig{Rungs: rungs, SegmentDuration: time.Second}, feed)
	if n := len(c.out[0]); n < 55 {
		t.Fatalf("only %d outputs after corrupt input", n)
	}
	if st := l.Stats(); st.CorruptFrames == 0 || st.Rungs[0].Frames != uint64(len(c.out[0])) {
		t.Errorf("Stats() = %+v, want the corrupt frames and the outputs counted", st)
	}
	decodeAll(t, astiav.CodecIDH264, c.out[0])
}

func TestLadderDropsRungWhenBehind(t *testing.T) {
	in := synthVideo(t, "H264", 640, 360, 30, 150, 0, 30)
	rungs := []Rung{{Name: "source", Passthrough: true}, {Name: "360p", Height: 360, BitrateKbps: 700},
		{Name: "120p", Height: 120, BitrateKbps: 150}}
	// A load limit no encoder can meet: after the first 2 s window the rungs go parallel
	// (on a multi-core machine), after the next the most expensive rung is dropped.
	c, l := runLadder(t, LadderConfig{Rungs: rungs, MaxLoad: 1e-9, SegmentDuration: time.Second}, in)
	if l.Active(1) || !l.Active(0) {
		t.Fatalf("active = %v %v %v, want 360p dropped", l.Active(0), l.Active(1), l.Active(2))
	}
	if len(c.out[0]) != 150 || len(c.out[1]) >= len(c.out[2]) || len(c.out[1]) < 60 {
		t.Errorf("outputs %d %d %d", len(c.out[0]), len(c.out[1]), len(c.out[2]))
	}
	st := l.Stats()
	if st.DroppedRungs != 1 || st.Rungs[1].Active || !st.Rungs[0].Passthrough || st.Rungs[1].Passthrough ||
		st.Load <= 0 || st.CPULoad <= 0 || st.Rungs[2].CPULoad <= 0 {
		t.Errorf("Stats() = %+v, want 360p dropped and the last window's loads", st)
	}
	for i, r := range st.Rungs {
		if r.Frames != uint64(len(c.out[i])) || r.Name != rungs[i].Name {
			t.Errorf("rung %d stats %+v, want %s with %d frames", i, r, rungs[i].Name, len(c.out[i]))
		}
	}
	decodeAll(t, astiav.CodecIDH264, c.out[1])
}

func TestLadderConfigErrors(t *testing.T) {
	out := func(int, Encoded) {}
	for _, cfg := range []LadderConfig{
		{Output: out},
		{Rungs: []Rung{{Name: "x", Height: 240}}, Output: out},
		{Rungs: DefaultLadder(640, 360)},
		{SourceCodec: "MPEG2", Rungs: DefaultLadder(640, 360), Output: out},
	} {
		if l, err := NewLadder(cfg); err == nil {
			l.Close()
			t.Errorf("NewLadder(%+v) accepted", cfg)
		}
	}
	l, err := NewLadder(LadderConfig{Rungs: DefaultLadder(640, 360), Output: out, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := l.Push(Encoded{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Push after Close = %v", err)
	}
}

// TestProbeH264Encoder checks the choice against what this machine offers: each candidate
// is opened and made to encode on its own, and the probe must pick the first that works in
// the documented order (NVENC, VAAPI, QSV, libx264), so libx264 only when no hardware
// encoder opens. libx264 is part of the supported libav build, so some encoder must win.
func TestProbeH264Encoder(t *testing.T) {
	got := ProbeH264Encoder(testLog(t))
	if astiav.FindEncoderByName("libx264") == nil {
		t.Fatal("libavcodec has no libx264: the build the project supports includes it")
	}
	want := EncoderInfo{}
	probeMu.Lock()
	level := astiav.GetLogLevel()
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	for _, c := range h264Candidates {
		err := tryEncoder(c)
		t.Logf("%s: usable=%v (%v)", c.Name, err == nil, err)
		if err == nil && want == (EncoderInfo{}) {
			want = c
		}
	}
	astiav.SetLogLevel(level)
	probeMu.Unlock()
	if got != want {
		t.Fatalf("ProbeH264Encoder = %+v, want %+v, the first usable encoder in order", got, want)
	}
	if got == (EncoderInfo{}) {
		t.Fatal("no H.264 encoder usable, not even libx264")
	}
}
