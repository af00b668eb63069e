package ingest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/media"
)

// Helpers of the lip sync test: a WHEP viewer that also keeps the RTCP sender reports of
// each track, the mapping of a track's RTP time to the sender's wall clock through them, and
// the decoders that find the flashes (H.264 luma) and the beeps (Opus energy).

// srSample is one sender report: the sender's wall clock (NTP, in seconds) at an RTP time.
type srSample struct {
	ntp float64
	rtp uint32
}

// syncViewer is a WHEP viewer that records RTP packets and the sender reports of each track.
type syncViewer struct {
	sess *client.Session
	mu   sync.Mutex
	pkts map[string][]*rtp.Packet
	srs  map[string][]srSample
}

func startSyncViewer(t *testing.T, ctx context.Context, url string) *syncViewer {
	t.Helper()
	v := &syncViewer{pkts: map[string][]*rtp.Packet{}, srs: map[string][]srSample{}}
	opts := client.Options{LoopbackOnly: true, OnTrack: func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		kind := track.Kind().String()
		var rtcpDone sync.WaitGroup
		rtcpDone.Go(func() { v.readReports(kind, uint32(track.SSRC()), recv) })
		defer rtcpDone.Wait() // the receiver stops with the session, which ends ReadRTCP
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			v.pkts[kind] = append(v.pkts[kind], pkt)
			v.mu.Unlock()
		}
	}}
	sess, err := client.Play(ctx, url, opts)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	v.sess = sess
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("viewer connect: %v", err)
	}
	return v
}

func (v *syncViewer) readReports(kind string, ssrc uint32, recv *webrtc.RTPReceiver) {
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == ssrc {
				v.mu.Lock()
				v.srs[kind] = append(v.srs[kind], srSample{ntp: ntpSeconds(sr.NTPTime), rtp: sr.RTPTime})
				v.mu.Unlock()
			}
		}
	}
}

func (v *syncViewer) snapshot(kind string) ([]*rtp.Packet, []srSample) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*rtp.Packet(nil), v.pkts[kind]...), append([]srSample(nil), v.srs[kind]...)
}

// ntpSeconds converts a 64-bit NTP timestamp to seconds.
func ntpSeconds(ntp uint64) float64 {
	return float64(ntp>>32) + float64(ntp&0xffffffff)/(1<<32)
}

// trackClock maps a track's RTP timestamps to the sender's wall clock through its sender
// reports. Each report gives the offset wall − RTP/rate; wall maps through the median of
// all reports, nearest through the report closest in RTP time, latest through the last one
// (what a receiver that just takes the latest report uses). The SFU's reports carry the
// source's own clock, so each single report is meant to be exact.
type trackClock struct {
	rate    float64
	ref     uint32 // RTP origin for unwrapping: the first packet's timestamp
	offsets []float64
	at      []float64 // RTP time (seconds from ref) of each report
	median  float64
}

func newTrackClock(rate float64, ref uint32, srs []srSample) (*trackClock, error) {
	if len(srs) < 3 {
		return nil, fmt.Errorf("%d sender reports, want at least 3", len(srs))
	}
	c := &trackClock{rate: rate, ref: ref}
	for _, sr := range srs {
		at := c.seconds(sr.rtp)
		c.at = append(c.at, at)
		c.offsets = append(c.offsets, sr.ntp-at)
	}
	sorted := slices.Sorted(slices.Values(c.offsets))
	c.median = sorted[len(sorted)/2]
	return c, nil
}

// seconds is an RTP timestamp's time since the track's first packet.
func (c *trackClock) seconds(ts uint32) float64 { return float64(int32(ts-c.ref)) / c.rate }

// wall maps an RTP timestamp to the sender's wall clock through the median report.
func (c *trackClock) wall(ts uint32) float64 { return c.seconds(ts) + c.median }

// nearest maps an RTP timestamp through the report closest to it in RTP time.
func (c *trackClock) nearest(ts uint32) float64 {
	s := c.seconds(ts)
	best := 0
	for i, at := range c.at {
		if math.Abs(at-s) < math.Abs(c.at[best]-s) {
			best = i
		}
	}
	return s + c.offsets[best]
}

// latest maps an RTP timestamp through the last report received.
func (c *trackClock) latest(ts uint32) float64 { return c.seconds(ts) + c.offsets[len(c.offsets)-1] }

// deviations lists each report's offset from the median, in ms, in arrival order.
func (c *trackClock) deviations() string {
	var b strings.Builder
	for _, o := range c.offsets {
		fmt.Fprintf(&b, " %+.0f", (o-c.median)*1000)
	}
	return b.String()
}

// spread is the range of the reports' offsets (their jitter), in seconds.
func (c *trackClock) spread() float64 {
	return slices.Max(c.offsets) - slices.Min(c.offsets)
}

// h264Flashes decodes the H.264 packets a viewer got (from its first SPS on) with libav
// and returns the RTP timestamps of the pictures that start a run of bright pictures (mean
// luma over 128), and the number of pictures decoded.
func h264Flashes(pkts []*rtp.Packet) (flashes []uint32, pictures int, err error) {
	pkts = inSeqOrder(pkts)
	start := slices.IndexFunc(pkts, func(p *rtp.Packet) bool {
		return slices.Contains(media.H264PayloadNALTypes(p.Payload), media.H264NALSPS)
	})
	if start < 0 {
		return nil, 0, fmt.Errorf("no SPS in %d video packets", len(pkts))
	}
	depack := &codecs.H264Packet{}
	var aus []ptsAU
	var au []byte
	for i, p := range pkts[start:] {
		b, err := depack.Unmarshal(p.Payload)
		if err == nil {
			au = append(au, b...)
		}
		last := i == len(pkts)-start-1 || pkts[start+i+1].Timestamp != p.Timestamp
		if last && len(au) > 0 {
			aus = append(aus, ptsAU{annexB: au, pts: int64(p.Timestamp)})
			au = nil
		}
	}
	pictures, err = decodeFlashes(aus, 128, func(pts int64) { flashes = append(flashes, uint32(pts)) })
	if err != nil {
		return nil, pictures, err
	}
	return flashes, pictures, nil
}

// ptsAU is an H.264 access unit (Annex-B) and its PTS.
type ptsAU struct {
	annexB []byte
	pts    int64
}

// decodeFlashes decodes H.264 access units with libav, from the first one with an SPS, and
// calls onFlash with the PTS of each picture that starts a run of bright pictures (mean
// luma over threshold). It returns the number of pictures decoded.
func decodeFlashes(aus []ptsAU, threshold int, onFlash func(pts int64)) (pictures int, err error) {
	start := slices.IndexFunc(aus, func(au ptsAU) bool {
		for n := range media.SplitAnnexB(au.annexB) {
			if len(n) > 0 && n[0]&0x1f == media.H264NALSPS {
				return true
			}
		}
		return false
	})
	if start < 0 {
		return 0, fmt.Errorf("no SPS in %d access units", len(aus))
	}
	dec, err := openDecoder(astiav.CodecIDH264, nil)
	if err != nil {
		return 0, err
	}
	defer dec.close()
	bright := false
	onPicture := func(f *astiav.Frame) error {
		pictures++
		luma, err := meanLuma(f)
		if err != nil {
			return err
		}
		now := luma > threshold
		if now && !bright {
			onFlash(f.Pts())
		}
		bright = now
		return nil
	}
	for _, au := range aus[start:] {
		if err := dec.decode(au.annexB, au.pts, onPicture); err != nil {
			return pictures, err
		}
	}
	return pictures, nil
}

// meanLuma is the mean luma of a decoded picture (every 7th sample of its Y plane).
func meanLuma(f *astiav.Frame) (int, error) {
	img, err := f.Data().Bytes(1)
	if err != nil {
		return 0, fmt.Errorf("picture data: %w", err)
	}
	luma := img[:f.Width()*f.Height()] // yuv420p: the Y plane comes first
	sum := 0
	for i := 0; i < len(luma); i += 7 {
		sum += int(luma[i])
	}
	return sum / ((len(luma) + 6) / 7), nil
}

// opusOnsets decodes the Opus packets a viewer got with libav and returns the RTP
// timestamps (48 kHz) of the beep onsets: the first sample over threshold after at least
// quiet of silence.
func opusOnsets(pkts []*rtp.Packet, threshold float32, quiet time.Duration) (onsets []uint32, err error) {
	dec, err := openDecoder(astiav.CodecIDOpus, func(cc *astiav.CodecContext) {
		cc.SetSampleRate(48000)
		cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	})
	if err != nil {
		return nil, err
	}
	defer dec.close()
	quietSamples := int64(quiet.Seconds() * 48000)
	var lastLoud int64 = math.MinInt64 / 2
	ref := uint32(0)
	for i, p := range inSeqOrder(pkts) {
		if i == 0 {
			ref = p.Timestamp
		}
		base := int64(int32(p.Timestamp - ref))
		err := dec.decode(p.Payload, base, func(f *astiav.Frame) error {
			samples, err := firstChannel(f)
			if err != nil {
				return err
			}
			for j, s := range samples {
				if s > threshold || s < -threshold {
					at := base + int64(j)
					if at-lastLoud > quietSamples {
						onsets = append(onsets, ref+uint32(at))
					}
					lastLoud = at
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return onsets, nil
}

// firstChannel returns the samples of a decoded audio frame's first channel (float formats).
// astiav v0.16 has no accessor for audio data; AVFrame.data is the struct's first field in
// every FFmpeg version, so the frame pointer is a pointer to data[0].
func firstChannel(f *astiav.Frame) ([]float32, error) {
	n, step := f.NbSamples(), 1
	switch f.SampleFormat() {
	case astiav.SampleFormatFltp:
	case astiav.SampleFormatFlt:
		step = f.ChannelLayout().NbChannels()
	default:
		return nil, fmt.Errorf("decoded audio in %s, want float", f.SampleFormat())
	}
	data := *(*unsafe.Pointer)(f.UnsafePointer())
	all := unsafe.Slice((*float32)(data), n*step)
	if step == 1 {
		return all, nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = all[i*step]
	}
	return out, nil
}

// avDecoder is a libav decoder fed one packet at a time, pts carried through.
type avDecoder struct {
	cc    *astiav.CodecContext
	pkt   *astiav.Packet
	frame *astiav.Frame
}

func openDecoder(id astiav.CodecID, setup func(*astiav.CodecContext)) (*avDecoder, error) {
	c := astiav.FindDecoder(id)
	if c == nil {
		return nil, fmt.Errorf("no %s decoder in libavcodec", id)
	}
	d := &avDecoder{cc: astiav.AllocCodecContext(c), pkt: astiav.AllocPacket(), frame: astiav.AllocFrame()}
	d.cc.SetThreadCount(1) // pictures out in order, without frame-threading delay
	if setup != nil {
		setup(d.cc)
	}
	if err := d.cc.Open(c, nil); err != nil {
		d.close()
		return nil, fmt.Errorf("open %s decoder: %w", id, err)
	}
	return d, nil
}

// decode sends one packet and calls emit for every frame that comes out. A packet the
// decoder refuses (damaged by loss) is skipped.
func (d *avDecoder) decode(data []byte, pts int64, emit func(*astiav.Frame) error) error {
	padded := append(append(make([]byte, 0, len(data)+64), data...), make([]byte, 64)...)
	if err := d.pkt.FromData(padded); err != nil {
		return fmt.Errorf("packet: %w", err)
	}
	d.pkt.SetSize(len(data))
	d.pkt.SetPts(pts)
	err := d.cc.SendPacket(d.pkt)
	d.pkt.Unref()
	if err != nil {
		return nil
	}
	for d.cc.ReceiveFrame(d.frame) == nil {
		err := emit(d.frame)
		d.frame.Unref()
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *avDecoder) close() {
	d.frame.Free()
	d.pkt.Free()
	d.cc.Free()
}

// TestWallAnchor: the timeline's wall-clock origin follows the least delayed frame, jumps
// on a stall, and reports are due at once and then every reportInterval.
func TestWallAnchor(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var a wallAnchor
	for i, s := range []struct {
		arrival time.Duration // after t0
		dts     int64
		origin  time.Duration // after t0, afterwards
	}{
		{0, 0, 0},
		{40 * time.Millisecond, 3000, 0},        // 6.7 ms late: kept
		{60 * time.Millisecond, 6000, -6666666}, // early: the new origin
		{5 * time.Second, 9000, 5*time.Second - 100*time.Millisecond},                      // a stall: re-anchored
		{5*time.Second + 40*time.Millisecond, 12000, 5*time.Second - 100*time.Millisecond}, // kept
	} {
		a.observe(t0.Add(s.arrival), s.dts)
		if got := a.origin.Sub(t0); got != s.origin {
			t.Errorf("frame %d: origin %v after t0, want %v", i, got, s.origin)
		}
	}
	if got, want := a.at(90000).Sub(a.origin), time.Second; got != want {
		t.Errorf("at(90000) is %v after the origin, want %v", got, want)
	}
	if !a.due(t0) || a.due(t0.Add(reportInterval/2)) || !a.due(t0.Add(reportInterval)) {
		t.Error("reports are due at once, then once per reportInterval")
	}
}
