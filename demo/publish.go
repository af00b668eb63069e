package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
)

// udpReadBuffer holds a burst of RTP (a keyframe) while the pump catches up.
const udpReadBuffer = 1 << 20

// publishOnce is one attempt: it publishes the two tracks, starts ffmpeg
// feeding them, and returns when ctx ends (nil), or with the reason when the
// connection fails or ffmpeg exits. Each attempt gets a fresh ffmpeg and a
// fresh WHIP session, so a restarted ffmpeg (new RTP sequence numbers and
// timestamps) always starts a new stream (new SSRCs) rather than jumping
// inside an old one.
func publishOnce(ctx context.Context, opts Options, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	videoConn, audioConn, err := listenPair()
	if err != nil {
		return err
	}
	defer func() { _ = videoConn.Close() }()
	defer func() { _ = audioConn.Close() }()

	video, audio, err := newTracks()
	if err != nil {
		return err
	}
	sess, err := client.Publish(ctx, opts.WHIPURL, []webrtc.TrackLocal{video, audio}, client.Options{
		Token:         opts.Token,
		LoopbackOnly:  opts.LoopbackOnly,
		SettingEngine: fastFailure,
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	log = log.With("session", sess.Location())
	log.Info("demo published, waiting for the connection")
	defer closeSession(ctx, sess, log)

	// Every goroutine below ends when ctx is cancelled or the sockets close;
	// this deferred call does both, then waits for them, before the
	// session's deferred Close deletes the resource.
	stages := &stageGroup{done: make(chan error, 3)} // the two pumps and ffmpeg
	defer func() {
		cancel()
		_ = videoConn.Close()
		_ = audioConn.Close()
		stages.wait()
	}()
	stages.start(func() error { return pumpRTP(videoConn, video, "video") })
	stages.start(func() error { return pumpRTP(audioConn, audio, "audio") })
	stages.start(func() error {
		return runFFmpeg(ctx, opts, portOf(videoConn), portOf(audioConn), log)
	})
	return stream(ctx, sess, stages, log)
}

// stream waits for the connection, then streams until ctx ends (nil), the
// connection fails or a stage stops.
func stream(ctx context.Context, sess *client.Session, stages *stageGroup, log *slog.Logger) error {
	connected := make(chan error, 1)
	stages.goTracked(func() {
		connectCtx, cancelConnect := context.WithTimeout(ctx, connectTimeout)
		defer cancelConnect()
		connected <- sess.Connected(connectCtx)
	})
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-connected:
			if err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			log.Info("demo connected, streaming")
			connected = nil
		case <-sess.Done():
			return fmt.Errorf("peer connection %s", sess.PeerConnection().ConnectionState())
		case err := <-stages.stopped():
			return err
		}
	}
}

// closeSession deletes the WHIP resource and closes the connection, within
// closeTimeout even when ctx has ended.
func closeSession(ctx context.Context, sess *client.Session, log *slog.Logger) {
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	if err := sess.Close(closeCtx); err != nil {
		log.Warn("demo session close", "err", err)
	}
}

// stageGroup runs the stages of one attempt (the RTP pumps, ffmpeg): the
// first to stop tells why on stopped.
type stageGroup struct {
	wg   sync.WaitGroup
	done chan error // buffered for every stage, so none blocks on stopping
}

// start runs fn as a stage; its result goes to stopped.
func (g *stageGroup) start(fn func() error) {
	g.goTracked(func() { g.done <- fn() })
}

// goTracked runs fn in a goroutine that wait waits for.
func (g *stageGroup) goTracked(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// stopped yields each stage's result as it stops.
func (g *stageGroup) stopped() <-chan error { return g.done }

// wait waits for every goroutine of the group.
func (g *stageGroup) wait() { g.wg.Wait() }

// fastFailure notices a vanished server within seconds instead of pion's
// default 25 s, so the demo publishes again quickly after a restart.
func fastFailure(settings *webrtc.SettingEngine) {
	settings.SetICETimeouts(3*time.Second, 6*time.Second, time.Second)
}

// listenPair binds two UDP sockets on 127.0.0.1 with ports the kernel picks;
// ffmpeg is then told to send its RTP there.
func listenPair() (video, audio *net.UDPConn, err error) {
	video, err = listenLoopback()
	if err != nil {
		return nil, nil, err
	}
	audio, err = listenLoopback()
	if err != nil {
		_ = video.Close()
		return nil, nil, err
	}
	return video, audio, nil
}

func listenLoopback() (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen for ffmpeg RTP: %w", err)
	}
	if err := conn.SetReadBuffer(udpReadBuffer); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("set UDP read buffer: %w", err)
	}
	return conn, nil
}

func portOf(conn *net.UDPConn) int {
	return conn.LocalAddr().(*net.UDPAddr).Port
}

// pumpRTP writes every RTP packet arriving on conn to track until conn is
// closed. TrackLocalStaticRTP sets the SSRC and payload type of the session;
// nothing else is rewritten. Writes before the connection is up are dropped
// by pion.
func pumpRTP(conn *net.UDPConn, track *webrtc.TrackLocalStaticRTP, kind string) error {
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read %s RTP: %w", kind, err)
		}
		if !isRTP(buf[:n]) {
			continue
		}
		if _, err := track.Write(buf[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return fmt.Errorf("write %s RTP: %w", kind, err)
		}
	}
}

// isRTP accepts RTP version 2 and rejects RTCP (payload types 200-204 read
// as marker bit + 72-76), which ffmpeg should not send (skip_rtcp) anyway.
func isRTP(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	pt := b[1] & 0x7f
	return pt < 72 || pt > 76
}
