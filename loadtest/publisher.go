package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
)

// publisherStats are the publisher's counters (read while it runs).
type publisherStats struct {
	video, audio                packetCounter // packets by send time
	frames                      packetCounter // access units by capture time
	keyframes, keyframeRequests atomic.Uint64
}

// publisher sends the synthetic H.264 + Opus stream over WHIP (package client) at a steady
// frame rate and answers keyframe requests (PLI, FIR) by making the next frame an IDR.
type publisher struct {
	room   string
	sess   *client.Session
	layers []*videoLayer // one, or the simulcast layers h, m, l
	audio  *webrtc.TrackLocalStaticRTP
	opus   [][]byte // 20 ms packets, looped
	fps    int

	stats   publisherStats
	sendErr atomic.Pointer[error] // why the send loop stopped early

	stop context.CancelFunc // ends the send loop
	wg   sync.WaitGroup     // the send loop
}

// Payload types and codecs the publisher offers.
const (
	h264PayloadType = 102
	opusPayloadType = 111
)

func h264Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []webrtc.RTCPFeedback{
			{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
			{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		},
	}
}

func opusCodec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	}
}

// startPublisher connects a publisher to whipURL and starts sending. ctx bounds the
// connection set-up only; Close ends the publisher. It owns the layers' sources (closes
// them).
func startPublisher(ctx context.Context, room, whipURL string, cfg Config, httpClient *http.Client, clock *markClock,
	layers []*videoLayer, opus [][]byte) (*publisher, error) {
	p := &publisher{room: room, layers: layers, opus: opus, fps: cfg.FPS, stop: func() {}}
	p.stats.video.clock, p.stats.audio.clock, p.stats.frames.clock = clock, clock, clock
	if err := p.connect(ctx, whipURL, cfg, httpClient); err != nil {
		p.closeSources()
		return nil, fmt.Errorf("publisher %s: %w", room, err)
	}
	sendCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = stop
	p.wg.Go(func() { p.sendLoop(sendCtx) })
	return p, nil
}

// connect publishes the tracks, puts the simulcast header extensions into the layers'
// packets and waits until the connection is up.
func (p *publisher) connect(ctx context.Context, whipURL string, cfg Config, httpClient *http.Client) error {
	tracks, err := p.newTracks()
	if err != nil {
		return err
	}
	p.sess, err = client.Publish(ctx, whipURL, tracks, client.Options{
		Token: cfg.Token, HTTPClient: httpClient, LoopbackOnly: cfg.LoopbackOnly, OnRTCP: p.onRTCP,
		Codecs: []webrtc.RTPCodecParameters{
			{RTPCodecCapability: h264Codec(), PayloadType: h264PayloadType},
			{RTPCodecCapability: opusCodec(), PayloadType: opusPayloadType},
		},
	})
	if err != nil {
		return err
	}
	if len(p.layers) > 1 {
		err = p.setLayerExtensions()
	}
	if err == nil {
		err = p.sess.Connected(ctx)
	}
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = p.sess.Close(cleanup) // the set-up error is the one worth reporting
	}
	return err
}

// onRTCP turns keyframe requests about a video layer into a keyframe on its next frame.
// It runs on the session's RTCP readers, one per track.
func (p *publisher) onRTCP(track webrtc.TrackLocal, pkts []rtcp.Packet) {
	i := slices.IndexFunc(p.layers, func(l *videoLayer) bool { return l.track == track })
	if i < 0 {
		return // the audio track
	}
	for _, pkt := range pkts {
		switch pkt.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			p.stats.keyframeRequests.Add(1)
			p.layers[i].keyframeWanted.Store(true)
		}
	}
}

// sendLoop writes a video frame every 1/fps s and an audio packet every 20 ms, on a
// schedule fixed from the start (a late tick is caught up at once, not dropped), until
// ctx ends or the video source fails.
func (p *publisher) sendLoop(ctx context.Context) {
	frameEvery := time.Second / time.Duration(p.fps)
	audioEvery := audioInterval * time.Millisecond
	start := time.Now()
	var (
		frames, audioPackets int64
		audio                = rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32())}}
		timer                = time.NewTimer(0)
	)
	defer timer.Stop()
	videoBase, audioBase := rand.Uint32(), rand.Uint32()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		elapsed := time.Since(start)
		for time.Duration(frames)*frameEvery <= elapsed {
			for _, l := range p.layers { // encode every layer first: one stamp for all
				var err error
				if l.au, err = l.source.next(l.keyframeWanted.Swap(false)); err != nil {
					err = fmt.Errorf("video source %s: %w", l.spec.rid, err)
					p.sendErr.Store(&err)
					return
				}
			}
			captured := time.Now()
			for i, l := range p.layers {
				l.pkt.Timestamp = videoBase + uint32(frames*90000/int64(p.fps))
				p.writeFrame(l, l.au, captured, i == 0)
			}
			frames++
		}
		for time.Duration(audioPackets)*audioEvery <= elapsed {
			audio.Timestamp = audioBase + uint32(audioPackets*48000*audioInterval/1000)
			audio.Payload = p.opus[audioPackets%int64(len(p.opus))]
			p.write(p.audio, &audio, &p.stats.audio, time.Now().UnixNano())
			audioPackets++
		}
		next := min(time.Duration(frames)*frameEvery, time.Duration(audioPackets)*audioEvery)
		timer.Reset(next - time.Since(start))
	}
}

// writeFrame stamps the access unit with captured, the time it is handed to the
// packetizer (the same for every simulcast layer of a frame), and sends it on layer;
// count counts the frame once for all layers.
func (p *publisher) writeFrame(l *videoLayer, au accessUnit, captured time.Time, count bool) {
	if au.keyframe {
		p.stats.keyframes.Add(1)
	}
	stamp := captured.UnixNano()
	size := 0
	l.pkz.packetize(au, captured, func(payload []byte, marker bool) {
		l.pkt.Marker = marker
		l.pkt.Payload = payload
		size += len(payload)
		p.write(l.track, &l.pkt, &p.stats.video, stamp)
	})
	if count {
		p.stats.frames.count(stamp, size)
	}
}

// write sends the packet and counts it at stamp; a failed write (the connection is
// closing) counts as not sent.
func (p *publisher) write(track *webrtc.TrackLocalStaticRTP, pkt *rtp.Packet, counter *packetCounter, stamp int64) {
	if err := track.WriteRTP(pkt); err != nil {
		return
	}
	pkt.SequenceNumber++
	counter.count(stamp, pkt.MarshalSize())
}

// err is why the publisher stopped sending, nil while it sends.
func (p *publisher) err() error {
	if e := p.sendErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Close stops sending, DELETEs the WHIP session and closes the PeerConnection.
func (p *publisher) Close(ctx context.Context) error {
	p.stop()
	err := p.sess.Close(ctx)
	p.wg.Wait()
	p.closeSources()
	if err != nil {
		return fmt.Errorf("publisher %s: %w", p.room, err)
	}
	return nil
}

// report is what the publisher sent over the whole run.
func (p *publisher) report() PublisherReport {
	s := &p.stats
	r := PublisherReport{
		Room: p.room, Frames: s.frames.packets.Load(),
		Packets: s.video.packets.Load() + s.audio.packets.Load(), Bytes: s.video.bytes.Load() + s.audio.bytes.Load(),
		Keyframes: s.keyframes.Load(), KeyframeRequests: s.keyframeRequests.Load(),
	}
	if err := p.err(); err != nil {
		r.Error = err.Error()
	}
	return r
}
