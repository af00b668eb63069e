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
	video, audio                packetCounter // packets by send time
	frames                      packetCounter // access units by capture time
	keyframes, keyframeRequests atomic.Uint64
}

// publisher sends the synthetic H.264 + Opus stream over WHIP at a steady frame rate and
// answers keyframe requests (PLI, FIR) by making the next frame an IDR.
type publisher struct {
	room   string
	pc     *webrtc.PeerConnection
	sig    whipSession
	layers []*videoLayer // one, or the simulcast layers h, m, l
	audio  *webrtc.TrackLocalStaticRTP
	opus   [][]byte // 20 ms packets, looped
	fps    int

	connected, failed chan struct{}
	onceConnected     sync.Once
	onceFailed        sync.Once

	stats   publisherStats
	sendErr atomic.Pointer[error] // why the send loop stopped early

	stop context.CancelFunc // ends the send loop
	wg   sync.WaitGroup     // RTCP readers and the send loop
}

// startPublisher connects a publisher to whipURL and starts sending. ctx bounds the
// connection set-up only; Close ends the publisher. It owns the layers' sources (closes
// them).
func startPublisher(ctx context.Context, room, whipURL string, cfg Config, httpClient *http.Client, clock *markClock,
	layers []*videoLayer, opus [][]byte) (*publisher, error) {
	p := &publisher{
		room: room, sig: whipSession{httpClient: httpClient, token: cfg.Token},
		layers: layers, opus: opus, fps: cfg.FPS,
		connected: make(chan struct{}), failed: make(chan struct{}), stop: func() {},
	}
	pc, err := newPublisherPeer(cfg.LoopbackOnly, len(layers) > 1)
	if err != nil {
		p.closeSources()
		return nil, fmt.Errorf("publisher %s: %w", room, err)
	}
	p.pc = pc
	p.stats.video.clock, p.stats.audio.clock, p.stats.frames.clock = clock, clock, clock
	pc.OnConnectionStateChange(p.onState)
	if err := p.setUp(ctx, whipURL); err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = p.Close(cleanup) // the set-up error is the one worth reporting
		return nil, fmt.Errorf("publisher %s: %w", room, err)
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
	video, err := p.addVideo()
	if err != nil {
		return err
	}
	if p.audio, err = webrtc.NewTrackLocalStaticRTP(opusCodec(), "audio", "loadtest"); err != nil {
		return fmt.Errorf("audio track: %w", err)
	}
	audio, err := p.pc.AddTransceiverFromTrack(p.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return fmt.Errorf("add audio track: %w", err)
	}
	p.wg.Go(func() { p.readRTCP(audio.Sender(), "", nil) })
	if err := p.sig.negotiate(ctx, p.pc, whipURL); err != nil {
		return err
	}
	if len(p.layers) > 1 {
		if err := p.setLayerExtensions(video); err != nil {
			return err
		}
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

// readRTCP turns keyframe requests into a keyframe on the next frame of layer, until the
// sender stops (rid "": the sender's only stream). Reading also keeps pion's RTCP
// interceptors running.
func (p *publisher) readRTCP(sender *webrtc.RTPSender, rid string, layer *videoLayer) {
	for {
		var pkts []rtcp.Packet
		var err error
		if rid == "" {
			pkts, _, err = sender.ReadRTCP()
		} else {
			pkts, _, err = sender.ReadSimulcastRTCP(rid)
		}
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if layer != nil {
					p.stats.keyframeRequests.Add(1)
					layer.keyframeWanted.Store(true)
				}
			}
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
	err := p.sig.remove(ctx)
	if cerr := p.pc.GracefulClose(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close peer connection: %w", cerr))
	}
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
