package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// LocalPublisher feeds a room from inside the process (RTMP and SRT ingest, relays): it is
// the room's publisher like a WHIP session, under the same one-publisher policy, and its
// packets take the same path to viewers.
type LocalPublisher struct {
	sess      *Session
	mu        sync.Mutex // serialises pushes per publisher
	tracks    map[string]*UpTrack
	closeOnce sync.Once
}

// localRTCP turns the SFU's keyframe requests into a callback; other RTCP has no receiver.
type localRTCP struct{ onKeyframe func() }

func (l localRTCP) WriteRTCP(pkts []rtcp.Packet) error {
	for _, p := range pkts {
		if _, ok := p.(*rtcp.PictureLossIndication); ok && l.onKeyframe != nil {
			l.onKeyframe()
		}
	}
	return nil
}

// PublishLocal makes an in-process publisher of the given tracks (video and/or audio; nil
// to leave one out) the room's publisher. onKeyframe is called, throttled like PLIs, when
// viewers need a keyframe. Errors are those of Publish (ErrRoomBusy, ErrClosed).
func (s *SFU) PublishLocal(roomName string, video, audio *webrtc.RTPCodecParameters, onKeyframe func()) (*LocalPublisher, error) {
	if video == nil && audio == nil {
		return nil, fmt.Errorf("publish local: no tracks")
	}
	for kind, c := range map[string]*webrtc.RTPCodecParameters{"video": video, "audio": audio} {
		if err := s.checkBackupCodec(roomName, kind, c); err != nil {
			return nil, fmt.Errorf("publish local: %w", err)
		}
	}
	sess, err := s.openPublisher(context.Background(), roomName, true)
	if err != nil {
		return nil, err
	}
	if err := s.register(sess); err != nil {
		sess.Close()
		return nil, err
	}
	p := &LocalPublisher{sess: sess, tracks: map[string]*UpTrack{}}
	for kind, c := range map[string]*webrtc.RTPCodecParameters{"video": video, "audio": audio} {
		if c == nil {
			continue
		}
		up := newLocalUpTrack(kind, *c, localRTCP{onKeyframe}, s.opts.PLIInterval, sess)
		p.tracks[kind] = up
		sess.mu.Lock()
		sess.ups = append(sess.ups, up)
		sess.mu.Unlock()
	}
	for _, up := range p.tracks {
		sess.room.addUpTrack(sess, up)
	}
	sess.log.Info("local publisher session")
	return p, nil
}

func newLocalUpTrack(kind string, codec webrtc.RTPCodecParameters, pub rtcpWriter, pliInterval time.Duration, sess *Session) *UpTrack {
	// the stream's own GOP: viewers start at its keyframes
	up := newPushedUpTrack(kind, "", rand.Uint32(), codec, pub, pliInterval, joinLagPolicy{cannotAsk: true}, sess.log)
	up.owner = sess.ID
	return up
}

// newPushedUpTrack is an uptrack whose packets the caller pushes (no TrackRemote).
func newPushedUpTrack(kind, rid string, ssrc uint32, codec webrtc.RTPCodecParameters, pub rtcpWriter,
	pliInterval time.Duration, joinLag joinLagPolicy, log *slog.Logger) *UpTrack {
	size := audioRingSize
	if kind == "video" {
		size = videoRingSize
	}
	ring := newPacketRing(size)
	return &UpTrack{
		kind: kind, rid: rid, codec: codec, ssrc: ssrc, ring: ring, publisher: pub,
		log: log.With("kind", kind, "rid", rid, "ssrc", ssrc), pliInterval: pliInterval, joinLag: joinLag,
		nackedAt: make([]int64, ring.Size()), done: make(chan struct{}), created: time.Now(),
	}
}

// ID is the publisher's session id.
func (p *LocalPublisher) ID() string { return p.sess.ID }

// Context ends when the publisher is closed or replaced, or the server shuts down.
func (p *LocalPublisher) Context() context.Context { return p.sess.ctx }

// WriteRTP hands one marshalled RTP packet of kind ("video" or "audio") to the room. The
// caller packetizes (sequence numbers, timestamps, marker) as a WebRTC sender would.
func (p *LocalPublisher) WriteRTP(kind string, pkt []byte) error {
	up := p.tracks[kind]
	if up == nil {
		return fmt.Errorf("publish local: no %s track", kind)
	}
	if err := p.sess.ctx.Err(); err != nil {
		return fmt.Errorf("publish local: session ended: %w", err)
	}
	p.mu.Lock()
	up.push(pkt)
	p.mu.Unlock()
	return nil
}

// SetSenderReport gives the source timing of a track ("video" or "audio"): the moment, on
// this machine's clock, at which its RTP clock read rtpTS. Viewers' sender reports are made
// from the latest pair, so pairs of both tracks from one clock keep them in sync. Call it
// when the stream starts and about once a second; kinds without a track are ignored.
func (p *LocalPublisher) SetSenderReport(kind string, wall time.Time, rtpTS uint32) {
	if up := p.tracks[kind]; up != nil {
		up.setSourcePair(wall, rtpTS)
	}
}

// Close ends the publisher; its viewers stay and wait for the next one.
func (p *LocalPublisher) Close() {
	p.closeOnce.Do(func() {
		p.sess.Close()
		for _, up := range p.tracks {
			p.sess.sfu.retired.addUp(up)
		}
	})
}
