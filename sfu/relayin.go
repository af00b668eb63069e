package sfu

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// RelayUpstream carries a relayed room's RTCP back to the node it comes from: the relay's
// own PeerConnection. Keyframe requests (throttled per layer, pending ones coalesced) and
// NACKs for what this node's rings lack (each packet at most once per 100 ms) are written
// with the upstream track's SSRC, which the relayed track keeps.
type RelayUpstream interface {
	WriteRTCP(pkts []rtcp.Packet) error
}

// RelayPublisher is the receiving side of a relay (package relay): it publishes the tracks a
// relay receives from another node into the local room, each simulcast layer as its own
// layer, so local viewers get their own layer choice, NACKs answered from this node's rings
// and keyframes at the cached keyframe. It does not claim the room in the directory (the
// room's owner is the node it relays from) and gives way to a local publisher.
type RelayPublisher struct {
	sess      *Session
	upstream  RelayUpstream
	closeOnce sync.Once
}

// RelayTrack is one relayed track (one layer) of a RelayPublisher.
type RelayTrack struct {
	pub *RelayPublisher
	up  *UpTrack
}

// PublishRelay makes a relay the publisher of roomName; ErrRoomBusy when the room already
// has a publisher here (it needs no relay then).
func (s *SFU) PublishRelay(roomName string, upstream RelayUpstream) (*RelayPublisher, error) {
	room, err := s.room(roomName)
	if err != nil {
		return nil, err
	}
	sess := s.newSession(room, RolePublisher)
	sess.fromRelay = true
	room.mu.Lock()
	busy := room.publisher != nil
	if !busy {
		room.publisher, room.live = sess, false
	}
	room.mu.Unlock()
	if busy {
		s.dropIfIdle(room)
		return nil, ErrRoomBusy
	}
	if err := s.register(sess); err != nil {
		sess.Close()
		return nil, err
	}
	sess.log.Info("relay publisher session")
	return &RelayPublisher{sess: sess, upstream: upstream}, nil
}

// ID is the relay publisher's session id.
func (p *RelayPublisher) ID() string { return p.sess.ID }

// Context ends when the relay publisher is closed or replaced by a local publisher, or the
// server shuts down.
func (p *RelayPublisher) Context() context.Context { return p.sess.ctx }

// AddTrack adds one relayed track: kind "video" or "audio", rid its simulcast layer ("" for
// none), ssrc the upstream track's SSRC (the RTCP sent upstream names it).
func (p *RelayPublisher) AddTrack(kind, rid string, codec webrtc.RTPCodecParameters, ssrc uint32) (*RelayTrack, error) {
	if err := p.sess.ctx.Err(); err != nil {
		return nil, fmt.Errorf("relay publisher: session ended: %w", err)
	}
	opts := p.sess.sfu.opts
	up := newPushedUpTrack(kind, rid, ssrc, codec, p.upstream, opts.PLIInterval, newJoinLagPolicy(opts.KeyframeCacheAge), p.sess.log)
	up.clock, up.owner = &p.sess.srcClock, p.sess.ID
	p.sess.mu.Lock()
	p.sess.ups = append(p.sess.ups, up)
	p.sess.mu.Unlock()
	if !p.sess.room.addUpTrack(p.sess, up) {
		return nil, fmt.Errorf("relay publisher: no longer the room's publisher")
	}
	up.log.Info("relayed track started", "codec", codec.MimeType)
	return &RelayTrack{pub: p, up: up}, nil
}

// WriteRTP stores one RTP packet of the track (as received, retransmissions included) and
// wakes the local viewers. One goroutine per track calls it.
func (t *RelayTrack) WriteRTP(pkt []byte) { t.up.push(pkt) }

// SenderReport takes the upstream's sender report for the track, received at received: the
// local viewers' reports keep the source's clock across the hop.
func (t *RelayTrack) SenderReport(sr *rtcp.SenderReport, received time.Time) {
	t.up.onSenderReport(sr, received)
}

// Close ends the relay publisher; its viewers stay and wait for the next publisher.
func (p *RelayPublisher) Close() {
	p.closeOnce.Do(func() {
		p.sess.Close()
		for _, up := range p.sess.upTracks() {
			p.sess.sfu.retired.addUp(up)
		}
	})
}
