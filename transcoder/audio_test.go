package transcoder

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// synthAudio encodes n frames of a 440 Hz sine with "opus" (20 ms frames, 48 kHz) or "aac"
// (1024 samples) and returns the frames plus the encoder's extradata.
func synthAudio(tb testing.TB, codec string, rate, channels, n int) ([]Encoded, []byte) {
	tb.Helper()
	name, sfmt, size := "aac", astiav.SampleFormatFltp, 1024
	if codec == "opus" {
		name, sfmt, size = "libopus", astiav.SampleFormatFlt, rate/50
	}
	layout := map[int]string{1: "mono", 2: "stereo"}[channels]
	src := newLavfiSource(tb, fmt.Sprintf("sine=frequency=440:sample_rate=%d,aformat=sample_fmts=%s:channel_layouts=%s,asetnsamples=n=%d",
		rate, sfmt.Name(), layout, size), true)
	defer src.close()
	enc := newTestEncoder(tb, name, func(cc *astiav.CodecContext) {
		cc.SetSampleRate(rate)
		cc.SetSampleFormat(sfmt)
		cc.SetChannelLayout(layoutFor(channels))
		cc.SetTimeBase(astiav.NewRational(1, rate))
		cc.SetBitRate(96000)
		cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}, nil)
	defer enc.close()
	f := astiav.AllocFrame()
	defer f.Free()
	var out []Encoded
	for i := 0; len(out) < n; i++ {
		src.next(tb, f)
		f.SetPts(int64(i * size))
		for _, p := range enc.push(tb, f) {
			pts := testBase + samplesToDuration(p.pts, rate)
			out = append(out, Encoded{Data: p.data, PTS: pts, DTS: pts, Keyframe: true, Duration: samplesToDuration(int64(size), rate)})
		}
		f.Unref()
	}
	return out[:n], enc.cc.ExtraData()
}

// decodeAudio decodes frames and returns the total number of samples, failing on errors.
func decodeAudio(tb testing.TB, codec astiav.CodecID, extradata []byte, rate, channels int, frames []Encoded) int {
	tb.Helper()
	c := astiav.FindDecoder(codec)
	cc := astiav.AllocCodecContext(c)
	defer cc.Free()
	cc.SetSampleRate(rate)
	cc.SetChannelLayout(layoutFor(channels))
	if extradata != nil {
		_ = cc.SetExtraData(extradata)
	}
	if err := cc.Open(c, nil); err != nil {
		tb.Fatal(err)
	}
	pkt, f := astiav.AllocPacket(), astiav.AllocFrame()
	defer pkt.Free()
	defer f.Free()
	total := 0
	for i, e := range frames {
		if err := fillPacket(pkt, e.Data); err != nil {
			tb.Fatal(err)
		}
		if err := cc.SendPacket(pkt); err != nil {
			tb.Fatalf("decode frame %d: %v", i, err)
		}
		pkt.Unref()
		for {
			err := cc.ReceiveFrame(f)
			if errors.Is(err, astiav.ErrEagain) {
				break
			}
			if err != nil {
				tb.Fatalf("decode frame %d: %v", i, err)
			}
			if f.SampleRate() != rate || f.ChannelLayout().NbChannels() != channels {
				tb.Fatalf("decoded %d Hz %d ch, want %d Hz %d ch", f.SampleRate(), f.ChannelLayout().NbChannels(), rate, channels)
			}
			total += f.NbSamples()
			f.Unref()
		}
	}
	return total
}

func checkContinuous(t *testing.T, out []Encoded, frameDur time.Duration) {
	t.Helper()
	for i := 1; i < len(out); i++ {
		if d := out[i].PTS - out[i-1].PTS; d-frameDur > time.Microsecond || frameDur-d > time.Microsecond {
			t.Fatalf("output %d: PTS step %v, want %v", i, d, frameDur)
		}
		if out[i].Duration != frameDur && out[i].Duration-frameDur > time.Microsecond {
			t.Fatalf("output %d: duration %v", i, out[i].Duration)
		}
	}
}

func TestAudioConverter(t *testing.T) {
	for _, tc := range []struct {
		from, to          string
		rate, ch          int
		outRate, frameLen int
		drop              bool // lose input frames 20..24
	}{
		{"opus", "aac", 48000, 2, 48000, 1024, false},
		{"opus", "aac", 48000, 1, 48000, 1024, true},
		{"aac", "opus", 44100, 2, 48000, 960, false},
		{"aac", "opus", 48000, 2, 48000, 960, true},
	} {
		name := fmt.Sprintf("%s-%s-%d-%dch-drop=%v", tc.from, tc.to, tc.rate, tc.ch, tc.drop)
		t.Run(name, func(t *testing.T) {
			in, extra := synthAudio(t, tc.from, tc.rate, tc.ch, 100)
			var opts []AudioOption
			if tc.from == "aac" {
				opts = append(opts, WithInputASC(extra))
			}
			a, err := NewAudioConverter(tc.from, tc.to, tc.rate, tc.ch, append(opts, WithAudioLogger(testLog(t)))...)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			var out []Encoded
			for i, e := range in {
				if tc.drop && i >= 20 && i < 25 {
					continue
				}
				got, err := a.Convert(e)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, got...)
			}
			frameDur := samplesToDuration(int64(tc.frameLen), tc.outRate)
			checkContinuous(t, out, frameDur)
			inSpan := in[len(in)-1].PTS + in[len(in)-1].Duration - in[0].PTS
			outSpan := out[len(out)-1].PTS + frameDur - in[0].PTS
			if outSpan < inSpan-150*time.Millisecond || outSpan > inSpan+50*time.Millisecond {
				t.Errorf("output covers %v of %v input", outSpan, inSpan)
			}
			if d := out[0].PTS - in[0].PTS; d > 0 || d < -frameDur {
				t.Errorf("first output PTS %v from the input's", d)
			}
			codec, asc := astiav.CodecIDOpus, []byte(nil)
			if tc.to == "aac" {
				codec, asc = astiav.CodecIDAac, a.AudioSpecificConfig()
				// FFmpeg appends a backward-compatible "no SBR" sync extension (0x2b7).
				if want := aacLCConfig(tc.outRate, tc.ch); len(asc) < 2 || !bytes.Equal(asc[:2], want) {
					t.Errorf("ASC %x, want %x", asc, want)
				}
			}
			if n := decodeAudio(t, codec, asc, tc.outRate, tc.ch, out); n < len(out)*tc.frameLen-tc.frameLen {
				t.Errorf("decoded %d samples from %d frames", n, len(out))
			}
		})
	}
}

func TestAudioConverterBadInput(t *testing.T) {
	if _, err := NewAudioConverter("mp3", "aac", 48000, 2); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("mp3: %v", err)
	}
	if _, err := NewAudioConverter("opus", "aac", 48000, 6); !errors.Is(err, ErrBadConfig) {
		t.Errorf("6ch opus: %v", err)
	}
	a, err := NewAudioConverter("aac", "opus", 48000, 2, WithAudioLogger(testLog(t)))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := synthAudio(t, "aac", 48000, 2, 10)
	level := astiav.GetLogLevel()
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	defer astiav.SetLogLevel(level)
	for _, bad := range [][]byte{nil, {0xff}, bytes.Repeat([]byte{0xde, 0xad}, 300)} {
		if _, err := a.Convert(Encoded{Data: bad, PTS: in[0].PTS}); err != nil {
			t.Errorf("garbage: %v", err)
		}
	}
	for _, e := range in {
		if _, err := a.Convert(e); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	if _, err := a.Convert(in[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestAACLCConfig(t *testing.T) {
	for _, tc := range []struct {
		rate, ch int
		want     []byte
	}{{48000, 2, []byte{0x11, 0x90}}, {44100, 2, []byte{0x12, 0x10}}, {48000, 1, []byte{0x11, 0x88}}} {
		if got := aacLCConfig(tc.rate, tc.ch); !bytes.Equal(got, tc.want) {
			t.Errorf("aacLCConfig(%d, %d) = %x, want %x", tc.rate, tc.ch, got, tc.want)
		}
	}
}
