package transcoder

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// AudioConverter converts Opus to AAC-LC (for HLS) or AAC to Opus (48 kHz, for WebRTC viewers
// of RTMP/SRT publishers): decode, resample/reformat and re-frame through a libavfilter graph
// (aresample with gap filling, aformat, asetnsamples), encode. Output frames are the encoder's
// (1024 samples for AAC, 20 ms for Opus) with PTS continuous from the first input's PTS: gaps
// in the input (lost frames) are filled with silence, overlaps trimmed, and a jump of more
// than 2 s restarts the timeline there (logged). AAC output PTS start one frame earlier, the
// encoder's priming. Not safe for concurrent use.
type AudioConverter struct {
	guard    guard // Convert, Close
	from, to string
	log      *slog.Logger
	dec, enc *audioCodec
	filter   *audioFilter
	inFrame  *astiav.Frame
	outFrame *astiav.Frame

	outRate, outChannels int
	started              bool
	anchor               time.Duration // PTS of the timeline's sample 0
	anchorSample         int64         // encoder sample index at anchor
	inSamples            int64         // decoded samples (decoder rate) since anchor
	outSamples           int64         // samples sent to the encoder, ever
	bad                  rateLimitedLog
}

// audioCodec is one opened audio decoder or encoder with its packet.
type audioCodec struct {
	cc  *astiav.CodecContext
	pkt *astiav.Packet
}

func (c *audioCodec) close() {
	if c == nil {
		return
	}
	c.cc.Free()
	c.pkt.Free()
}

const audioJumpLimit = 2 * time.Second

// NewAudioConverter converts from "opus" or "aac" to the other. sampleRate and channels
// describe the input (Opus input: 48000 and 1 or 2). Output: AAC-LC at the input rate, or Opus
// at 48 kHz; at most 2 channels.
func NewAudioConverter(from, to string, sampleRate, channels int, opts ...AudioOption) (*AudioConverter, error) {
	o := audioOptions{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	from, to = strings.ToLower(from), strings.ToLower(to)
	if !((from == "opus" && to == "aac") || (from == "aac" && to == "opus")) {
		return nil, fmt.Errorf("%w: audio %s to %s", ErrUnsupportedCodec, from, to)
	}
	if sampleRate <= 0 || channels < 1 || channels > 8 || (from == "opus" && channels > 2) {
		return nil, fmt.Errorf("%w: audio input %d Hz, %d channels", ErrBadConfig, sampleRate, channels)
	}
	a := &AudioConverter{from: from, to: to, log: o.log.With("component", "transcoder", "audio", from+"→"+to),
		outRate: sampleRate, outChannels: min(channels, 2), inFrame: astiav.AllocFrame(), outFrame: astiav.AllocFrame()}
	if to == "opus" {
		a.outRate = 48000
	}
	var err error
	if a.dec, err = openAudioDecoder(from, sampleRate, channels, o.asc); err != nil {
		a.Close()
		return nil, err
	}
	if a.enc, err = openAudioEncoder(to, a.outRate, a.outChannels, o.bitrateKbps); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func layoutFor(channels int) astiav.ChannelLayout {
	if channels == 1 {
		return astiav.ChannelLayoutMono
	}
	return astiav.ChannelLayoutStereo
}

func openAudioDecoder(codec string, rate, channels int, asc []byte) (*audioCodec, error) {
	id := astiav.CodecIDOpus
	if codec == "aac" {
		id = astiav.CodecIDAac
		if asc == nil {
			asc = aacLCConfig(rate, channels)
		}
	}
	c := astiav.FindDecoder(id)
	if c == nil {
		return nil, fmt.Errorf("%w: no %s decoder", ErrUnsupportedCodec, codec)
	}
	d := &audioCodec{cc: astiav.AllocCodecContext(c), pkt: astiav.AllocPacket()}
	d.cc.SetSampleRate(rate)
	if channels <= 2 {
		d.cc.SetChannelLayout(layoutFor(channels))
	}
	if asc != nil {
		if err := d.cc.SetExtraData(asc); err != nil {
			d.close()
			return nil, fmt.Errorf("transcoder: %s decoder config: %w", codec, err)
		}
	}
	if err := d.cc.Open(c, nil); err != nil {
		d.close()
		return nil, fmt.Errorf("transcoder: open %s decoder: %w", codec, err)
	}
	return d, nil
}

func openAudioEncoder(codec string, rate, channels, kbps int) (*audioCodec, error) {
	name, fmtWant := "aac", astiav.SampleFormatFltp
	if codec == "opus" {
		name, fmtWant = "libopus", astiav.SampleFormatFlt
	}
	if kbps <= 0 {
		kbps = map[string]int{"aac": 128, "opus": 64}[codec]
	}
	c := astiav.FindEncoderByName(name)
	if c == nil {
		return nil, fmt.Errorf("%w: no %s encoder", ErrUnsupportedCodec, name)
	}
	e := &audioCodec{cc: astiav.AllocCodecContext(c), pkt: astiav.AllocPacket()}
	e.cc.SetSampleRate(rate)
	e.cc.SetChannelLayout(layoutFor(channels))
	e.cc.SetSampleFormat(fmtWant)
	e.cc.SetBitRate(int64(kbps) * 1000)
	e.cc.SetTimeBase(astiav.NewRational(1, rate))
	e.cc.SetFlags(e.cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	if codec == "aac" {
		e.cc.SetProfile(astiav.ProfileAacLow)
	}
	d := astiav.NewDictionary()
	defer d.Free()
	if codec == "opus" {
		_ = d.Set("frame_duration", "20", 0)
	}
	if err := e.cc.Open(c, d); err != nil {
		e.close()
		return nil, fmt.Errorf("transcoder: open %s encoder %d Hz: %w", name, rate, err)
	}
	return e, nil
}

// Convert feeds one input frame (PTS set) and returns the output frames it completed.
// A corrupt frame is dropped and logged (nil error).
func (a *AudioConverter) Convert(in Encoded) ([]Encoded, error) {
	if err := a.guard.enter(); err != nil {
		return nil, err
	}
	defer a.guard.leave()
	if a.started {
		expect := a.anchor + samplesToDuration(a.inSamples, a.dec.cc.SampleRate())
		if d := in.PTS - expect; d > audioJumpLimit || d < -audioJumpLimit {
			a.log.Info("transcoder: audio timestamps jumped, timeline restarted", "jump", d)
			a.started = false
		}
	}
	if !a.started {
		a.resetTimeline(in.PTS)
	}
	if err := fillPacket(a.dec.pkt, in.Data); err != nil {
		return nil, err
	}
	err := a.dec.cc.SendPacket(a.dec.pkt)
	a.dec.pkt.Unref()
	if err != nil && !isAgain(err) {
		a.bad.warn(a.log, "transcoder: corrupt audio frame dropped", "err", err, "pts", in.PTS)
		return nil, nil
	}
	var out []Encoded
	for {
		if err := a.dec.cc.ReceiveFrame(a.inFrame); err != nil {
			if !isAgain(err) {
				a.bad.warn(a.log, "transcoder: corrupt audio frame dropped", "err", err, "pts", in.PTS)
			}
			return out, nil
		}
		got, err := a.filterAndEncode(in.PTS)
		a.inFrame.Unref()
		out = append(out, got...)
		if err != nil {
			return out, err
		}
	}
}

// resetTimeline starts a new timeline at pts (a new filter graph is built on the next frame).
func (a *AudioConverter) resetTimeline(pts time.Duration) {
	a.started, a.anchor, a.anchorSample, a.inSamples = true, pts, a.outSamples, 0
	if a.filter != nil {
		a.filter.close()
		a.filter = nil
	}
}

// filterAndEncode pushes the decoded a.inFrame (of the input at pts) through the graph and
// encodes every frame that comes out.
func (a *AudioConverter) filterAndEncode(pts time.Duration) ([]Encoded, error) {
	rate := a.inFrame.SampleRate()
	if a.filter != nil && !a.filter.accepts(a.inFrame) {
		a.log.Info("transcoder: audio input format changed", "rate", rate, "channels", a.inFrame.ChannelLayout().NbChannels())
		a.resetTimeline(pts)
	}
	if a.filter == nil {
		f, err := newAudioFilter(a.inFrame, a.outRate, a.enc.cc.SampleFormat(), a.enc.cc.ChannelLayout(), a.enc.cc.FrameSize())
		if err != nil {
			return nil, err
		}
		a.filter = f
	}
	// Samples are placed where the input's PTS says; aresample fills gaps and trims overlaps.
	a.inFrame.SetPts(durationToSamples(pts-a.anchor, rate))
	a.inSamples = durationToSamples(pts-a.anchor, rate) + int64(a.inFrame.NbSamples())
	var out []Encoded
	err := a.filter.push(a.inFrame, a.outFrame, func(f *astiav.Frame) error {
		f.SetPts(a.outSamples)
		a.outSamples += int64(f.NbSamples())
		got, err := a.encode(f)
		out = append(out, got...)
		return err
	})
	return out, err
}

func (a *AudioConverter) encode(f *astiav.Frame) ([]Encoded, error) {
	if err := a.enc.cc.SendFrame(f); err != nil {
		return nil, fmt.Errorf("transcoder: encode %s: %w", a.to, err)
	}
	var out []Encoded
	for {
		if err := a.enc.cc.ReceivePacket(a.enc.pkt); err != nil {
			if isAgain(err) {
				return out, nil
			}
			return out, fmt.Errorf("transcoder: encode %s: %w", a.to, err)
		}
		pts := a.anchor + samplesToDuration(a.enc.pkt.Pts()-a.anchorSample, a.outRate)
		dur := a.enc.pkt.Duration()
		if dur <= 0 {
			dur = int64(a.enc.cc.FrameSize())
		}
		out = append(out, Encoded{Data: a.enc.pkt.Data(), PTS: pts, DTS: pts, Keyframe: true,
			Duration: samplesToDuration(dur, a.outRate)})
		a.enc.pkt.Unref()
	}
}

// AudioSpecificConfig returns the AAC output's AudioSpecificConfig (for the MP4 esds), nil
// for Opus output.
func (a *AudioConverter) AudioSpecificConfig() []byte {
	if a.to != "aac" || a.enc == nil {
		return nil
	}
	return a.enc.cc.ExtraData()
}

// OutputFormat returns the output sample rate and channel count.
func (a *AudioConverter) OutputFormat() (sampleRate, channels int) { return a.outRate, a.outChannels }

// Close frees every libav object. Safe to call more than once.
func (a *AudioConverter) Close() error {
	a.guard.close(func() {
		a.dec.close()
		a.enc.close()
		if a.filter != nil {
			a.filter.close()
		}
		a.inFrame.Free()
		a.outFrame.Free()
	})
	return nil
}

func samplesToDuration(n int64, rate int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(rate)
}

func durationToSamples(d time.Duration, rate int) int64 {
	return (int64(d)*int64(rate) + int64(time.Second)/2) / int64(time.Second)
}

// aacLCConfig builds an AudioSpecificConfig for AAC-LC at rate and channels.
func aacLCConfig(rate, channels int) []byte {
	rates := []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}
	idx := 0xf
	for i, r := range rates {
		if r == rate {
			idx = i
		}
	}
	bits, n := uint64(2), 5 // audioObjectType: AAC LC
	put := func(v uint64, w int) { bits, n = bits<<uint(w)|v, n+w }
	put(uint64(idx), 4)
	if idx == 0xf {
		put(uint64(rate), 24)
	}
	put(uint64(min(channels, 7)), 4)
	put(0, 3) // GASpecificConfig: frameLengthFlag, dependsOnCoreCoder, extensionFlag
	for n%8 != 0 {
		put(0, 1)
	}
	out := make([]byte, n/8)
	for i := range out {
		out[i] = byte(bits >> uint(n-8*(i+1)))
	}
	return out
}
