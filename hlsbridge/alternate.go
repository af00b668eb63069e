package hlsbridge

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/transcoder"
)

// The alternate WebRTC video of an H.265 or AV1 room: the ladder's H.264 rung of the
// source's size (transcoder.Rung.SourceSize, constrained baseline) is also published into
// the room with sfu.PublishAlternate, so that WHEP viewers whose browser lacks the room's
// codec get H.264 from the same decode instead of a 406. Their keyframe requests force an
// IDR on that rung (transcoder.Ladder.RequestKeyframe) and wake an on-demand room's parked
// ladder; while they watch, the room does not park.

// alternate is a bridge's alternate video publisher. Its methods run on the video pipeline's
// goroutine, except viewers and keyframeWanted.
type alternate struct {
	b    *bridge
	rung atomic.Int32 // the SourceSize rung's index; -1: none
	pub  atomic.Pointer[sfu.AlternatePublisher]

	retryAt time.Time // after a failed publish
	packer  media.H264Packetizer
	params  media.H264ParamSets
	ssrc    uint32
	seq     uint16
	base    uint32 // random RTP timestamp origin
	lastSR  time.Time
	nals    [][]byte
	warned  rateLimited
}

// alternateFmtp is the alternate's SDP format: constrained baseline, which every WebRTC
// viewer decodes, level 3.1 (the level is not negotiated).
const alternateFmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"

// Alternate RTP: packets within the SFU's maximum size; a sender report a second.
const (
	alternateMTU      = 1200
	alternateSRPeriod = time.Second
)

func newAlternate(b *bridge) *alternate {
	a := &alternate{b: b, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), base: rand.Uint32(),
		packer: media.H264Packetizer{MaxPayload: alternateMTU - 12}}
	a.rung.Store(-1)
	return a
}

// useRungs picks the SourceSize rung of an H.265/AV1 source's ladder (rungs fixed for the
// bridge's life), if it has one, and publishes the alternate at once: a parked on-demand
// ladder has no output yet, and the alternate's first viewer is what wakes it.
func (a *alternate) useRungs(rungs []transcoder.Rung) {
	for i, r := range rungs {
		if r.SourceSize {
			a.rung.Store(int32(i))
			a.open()
			return
		}
	}
}

// isRung reports whether ladder output of rung i feeds the alternate.
func (a *alternate) isRung(i int) bool { return int32(i) == a.rung.Load() && i >= 0 }

// write publishes one H.264 access unit of the SourceSize rung (Annex B), opening the
// alternate publisher at the first one.
func (a *alternate) write(e transcoder.Encoded) {
	pub := a.pub.Load()
	if pub == nil {
		if pub = a.open(); pub == nil {
			return
		}
	}
	a.nals = a.nals[:0]
	for nal := range media.SplitAnnexB(e.Data) {
		if len(nal) == 0 {
			continue
		}
		if typ := nal[0] & 0x1f; typ != media.H264NALAUD && typ != media.H264NALFiller {
			a.nals = append(a.nals, nal)
		}
	}
	for _, nal := range a.nals {
		a.params.Keep(nal)
	}
	var au [][]byte
	au, _ = a.params.Missing(make([][]byte, 0, len(a.nals)+2), a.nals)
	au = append(au, a.nals...)
	ts := a.base + uint32(media.Ticks(e.PTS, 90000))
	err := a.packer.Packetize(au, func(payload []byte, marker bool) error {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: a.seq, Timestamp: ts,
			SSRC: a.ssrc, Marker: marker}, Payload: payload}
		b, err := pkt.Marshal()
		if err != nil {
			return fmt.Errorf("alternate rtp: %w", err)
		}
		a.seq++
		return pub.WriteRTP("video", b)
	})
	if err != nil {
		a.warned.warn(a.b.log, "hlsbridge: alternate video packet not sent", "err", err)
		return
	}
	if now := time.Now(); now.Sub(a.lastSR) >= alternateSRPeriod {
		a.lastSR = now
		pub.SetSenderReport("video", a.b.captureTime(e.PTS), ts)
	}
}

// open publishes the alternate video into the room (nil when it cannot, retried 5 s later).
func (a *alternate) open() *sfu.AlternatePublisher {
	if time.Now().Before(a.retryAt) {
		return nil
	}
	codec := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: alternateFmtp}}
	pub, err := a.b.opts.SFU.PublishAlternate(a.b.room, codec, a.keyframeWanted)
	if err != nil {
		a.b.log.Warn("hlsbridge: alternate H.264 video not published", "err", err)
		a.retryAt = time.Now().Add(retryAfter)
		return nil
	}
	a.pub.Store(pub)
	a.b.log.Info("hlsbridge: alternate H.264 video published for viewers without the room's codec",
		"session", pub.ID())
	return pub
}

// keyframeWanted is the alternate's keyframe request (an SFU goroutine): an IDR on its rung,
// and a parked on-demand ladder wakes.
func (a *alternate) keyframeWanted() {
	if l := a.b.ladder.Load(); l != nil {
		l.RequestKeyframe(int(a.rung.Load()))
	}
	a.b.demanded("WebRTC viewer of the alternate video")
}

// viewers is the number of WebRTC viewers of the alternate video (any goroutine).
func (a *alternate) viewers() int {
	if pub := a.pub.Load(); pub != nil {
		return pub.Viewers()
	}
	return 0
}

// close ends the alternate publisher; its viewers wait in the room for the next one.
func (a *alternate) close() {
	if pub := a.pub.Swap(nil); pub != nil {
		pub.Close()
	}
}
