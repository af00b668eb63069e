package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// publisherStats are the publisher's counters (read while it runs).
type publisherStats struct {
	video, audio                packetCounter
	keyframes, keyframeRequests atomic.Uint64
}

// publisher sends the synthetic H.264 + Opus stream over WHIP at a steady frame rate and
// answers keyframe requests (PLI, FIR) by making the next frame a keyframe.
type publisher struct {
	pc           *webrtc.PeerConnection
	sig          whipSession
	video, audio *webrtc.TrackLocalStaticRTP
	stream       *syntheticVideo
	audioPayload []byte
	fps          int

	connected, failed chan struct{}
	onceConnected     sync.Once
	onceFailed        sync.Once

	keyframeWanted atomic.Bool
	stats          publisherStats

	stop context.CancelFunc // ends the send loop
	wg   sync.WaitGroup     // RTCP readers and the send loop
}

// startPublisher connects a publisher to whipURL and starts sending. ctx bounds the
// connection set-up only; Close ends the publisher.
func startPublisher(ctx context.Context, whipURL string, cfg Config, httpClient *http.Client, clock *markClock) (*publisher, error) {
	pc, err := newPublisherPeer(cfg.LoopbackOnly)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	p := &publisher{
		pc: pc, sig: whipSession{httpClient: httpClient, token: cfg.Token},
		stream: newSyntheticVideo(cfg.BitrateKbps, cfg.FPS, rng), audioPayload: newAudioPayload(rng), fps: cfg.FPS,
		connected: make(chan struct{}), failed: make(chan struct{}), stop: func() {},
	}
	p.stats.video.clock, p.stats.audio.clock = clock, clock
	pc.OnConnectionStateChange(p.onState)
	if err := p.setUp(ctx, whipURL); err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = p.Close(cleanup) // the set-up error is the one worth reporting
		return nil, fmt.Errorf("publisher: %w", err)
	}
	sendCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = stop
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.sendLoop(sendCtx)
	}()
	return p, nil
}

func (p *publisher) setUp(ctx context.Context, whipURL string) error {
	var err error
	if p.video, err = webrtc.NewTrackLocalStaticRTP(h264Codec(), "video", "loadtest"); err != nil {
		return fmt.Errorf("video track: %w", err)
	}
	if p.audio, err = webrtc.NewTrackLocalStaticRTP(opusCodec(), "audio", "loadtest"); err != nil {
		return fmt.Errorf("audio track: %w", err)
	}
	for _, track := range []webrtc.TrackLocal{p.video, p.audio} {
		tr, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("add %s track: %w", track.Kind(), err)
		}
		sender := tr.Sender()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.readRTCP(sender)
		}()
	}
	if err := p.sig.negotiate(ctx, p.pc, whipURL); err != nil {
		return err
	}
	select {
	case <-p.connected:
		return nil
	case <-p.failed:
		return errors.New("peer connection failed before connecting")
	case <-ctx.Done():
		return fmt.Errorf("waiting for connection: %w", ctx.Err())
	}
}

func (p *publisher) onState(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		p.onceConnected.Do(func() { close(p.connected) })
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		p.onceFailed.Do(func() { close(p.failed) })
	default:
	}
}

// readRTCP turns keyframe requests into a keyframe on the next frame, until the sender
// stops. Reading also keeps pion's RTCP interceptors running.
func (p *publisher) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.stats.keyframeRequests.Add(1)
				p.keyframeWanted.Store(true)
			}
		}
	}
}

// sendLoop writes a video frame every 1/fps s and an audio packet every 20 ms, on a
// schedule fixed from the start (a late tick is caught up at once, not dropped), until
// ctx ends.
func (p *publisher) sendLoop(ctx context.Context) {
	frameEvery := time.Second / time.Duration(p.fps)
	audioEvery := audioInterval * time.Millisecond
	start := time.Now()
	var (
		frames, audioPackets int64
		gopPos               int
		video                = rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32())}}
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
			if p.keyframeWanted.Swap(false) {
				gopPos = 0
			}
			video.Timestamp = videoBase + uint32(frames*90000/int64(p.fps))
			p.writeFrame(&video, &p.stream.frames[gopPos])
			gopPos = (gopPos + 1) % len(p.stream.frames)
			frames++
		}
		for time.Duration(audioPackets)*audioEvery <= elapsed {
			audio.Timestamp = audioBase + uint32(audioPackets*48000*audioInterval/1000)
			audio.Payload = p.audioPayload
			p.write(p.audio, &audio, &p.stats.audio)
			audioPackets++
		}
		next := min(time.Duration(frames)*frameEvery, time.Duration(audioPackets)*audioEvery)
		timer.Reset(next - time.Since(start))
	}
}

func (p *publisher) writeFrame(pkt *rtp.Packet, f *frame) {
	if f.keyframe {
		p.stats.keyframes.Add(1)
	}
	for i, payload := range f.payloads {
		pkt.Marker = i == len(f.payloads)-1
		pkt.Payload = payload
		p.write(p.video, pkt, &p.stats.video)
	}
}

// write stamps the send time into the payload and sends the packet; a failed write (the
// connection is closing) counts as not sent.
func (p *publisher) write(track *webrtc.TrackLocalStaticRTP, pkt *rtp.Packet, counter *packetCounter) {
	sent := time.Now().UnixNano()
	stamp(pkt.Payload, sent)
	if err := track.WriteRTP(pkt); err != nil {
		return
	}
	pkt.SequenceNumber++
	counter.count(sent, pkt.MarshalSize())
}

// counters are the publisher's per-track packet counters.
func (p *publisher) counters(yield func(*packetCounter) bool) {
	_ = yield(&p.stats.video) && yield(&p.stats.audio)
}

// Close stops sending, DELETEs the WHIP session and closes the PeerConnection.
func (p *publisher) Close(ctx context.Context) error {
	p.stop()
	err := p.sig.remove(ctx)
	if cerr := p.pc.GracefulClose(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close peer connection: %w", cerr))
	}
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	return nil
}
