package sfu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// The alternate video across relays (package relay). A relay of an H.265/AV1 room whose
// upstream node has the room's H.264 alternate video keeps a second upstream session that
// carries only it: the sending side answers it with SubscribeRelayAlternate (one video
// m-section bound to the alternate's slot, pinned like a relay subscriber's layer), the
// receiving side publishes what arrives as the relayed room's alternate
// (RelayPublisher.PublishAlternate), so this node's viewers without the room's codec play
// it here, and their keyframe requests travel upstream to the alternate's source. Until
// the alternate arrives the relay publisher says where the origin serves it
// (SetAlternateAt): a viewer that needs it waits up to relayedAlternateWait for it, then is
// refused with a CodecError naming the origin's URL.

// relayedAlternateWait bounds how long a viewer that needs a relayed room's alternate
// waits for it to arrive from upstream (the relay has just started, or is reconnecting).
const relayedAlternateWait = 4 * time.Second

// ErrNoAlternate answers SubscribeRelayAlternate for a room without an alternate video.
var ErrNoAlternate = errors.New("room has no alternate video")

// SetAlternateAt tells the relayed room that its upstream has an alternate H.264 video (of
// SDP format fmtp), which the relay is bringing here (PublishAlternate), and where a viewer
// gets it meanwhile: whepURL, the room's WHEP URL on the origin ("" when the upstream has
// none). A viewer here whose offer lacks the room's video codec waits briefly for the
// alternate, then is refused with a CodecError naming whepURL (AlternateAt); a relay of
// this node asking for the alternate waits for it likewise.
func (p *RelayPublisher) SetAlternateAt(whepURL, fmtp string) {
	r := p.sess.room
	r.mu.Lock()
	r.alt.at, r.alt.atFmtp, r.alt.atBy = whepURL, fmtp, p.sess
	r.mu.Unlock()
}

// relayBringsAlternate: the room's relay publisher said its upstream has an alternate.
// Called with r.mu held.
func (r *Room) relayBringsAlternate() bool {
	return r.alt.at != "" && r.alt.atBy != nil && r.alt.atBy == r.publisher
}

// RelayAlternate is the relayed alternate video of a RelayPublisher's room: one H.264
// track from the upstream's alternate. Its viewers stay, waiting for the next one, when it
// closes; it closes with its relay publisher.
type RelayAlternate struct {
	sess      *Session
	up        *UpTrack
	unwatch   func() bool
	closeOnce sync.Once
}

// PublishAlternate makes a track received from the upstream's alternate video (codec:
// H.264; ssrc: the upstream track's, which the RTCP sent to upstream names) the room's
// alternate video, replacing the one it had. Keyframe requests and NACKs of its viewers go
// to upstream.
func (p *RelayPublisher) PublishAlternate(codec webrtc.RTPCodecParameters, ssrc uint32, upstream RelayUpstream) (*RelayAlternate, error) {
	if err := p.sess.ctx.Err(); err != nil {
		return nil, fmt.Errorf("relay alternate: relay publisher ended: %w", err)
	}
	room := p.sess.room
	room.mu.Lock()
	current := room.publisher == p.sess
	room.mu.Unlock()
	if !current {
		return nil, errors.New("relay alternate: the relay is no longer the room's publisher")
	}
	sess, up, err := p.sess.sfu.startAlternate(room, codec, ssrc, upstream, true)
	if err != nil {
		return nil, err
	}
	a := &RelayAlternate{sess: sess, up: up}
	a.unwatch = context.AfterFunc(p.sess.ctx, a.Close)
	return a, nil
}

// WriteRTP stores one RTP packet of the alternate and wakes its viewers. One goroutine
// calls it.
func (a *RelayAlternate) WriteRTP(pkt []byte) { a.up.push(pkt) }

// SenderReport takes the upstream's sender report for the alternate, received at received.
func (a *RelayAlternate) SenderReport(sr *rtcp.SenderReport, received time.Time) {
	a.up.onSenderReport(sr, received)
}

// Context ends when the relayed alternate is closed or replaced, or its relay publisher ends.
func (a *RelayAlternate) Context() context.Context { return a.sess.ctx }

// Close ends the relayed alternate; its viewers stay and wait for the next one.
func (a *RelayAlternate) Close() {
	a.closeOnce.Do(func() {
		a.unwatch()
		a.sess.Close()
		a.sess.sfu.retired.addUp(a.up)
	})
}

// SubscribeRelayAlternate answers another node's relay offer for the room's alternate
// video: its first receiving video m-section gets the alternate, pinned like a relay
// layer. In a relayed room whose relay is bringing the alternate, it waits for it as a
// viewer does. ErrNoAlternate while the room has none; other errors are those of
// SubscribeRelay.
func (s *SFU) SubscribeRelayAlternate(ctx context.Context, roomName, offerSDP string) (*Session, string, error) {
	o, room, _, err := s.offerToLiveRoom(roomName, offerSDP)
	if err != nil {
		return nil, "", err
	}
	alt := room.awaitRelayedAlternate(ctx)
	if alt == nil {
		return nil, "", ErrNoAlternate
	}
	me := &webrtc.MediaEngine{}
	var plan []relayTrack
	for _, m := range o.Media {
		if m.Kind != "video" || m.Direction == "sendonly" || m.Direction == "inactive" {
			continue
		}
		if err := registerRoomCodec(me, m, alt, false); err != nil {
			return nil, "", err
		}
		plan = append(plan, relayTrack{slot: alt, pinned: true})
		break
	}
	if len(plan) == 0 {
		return nil, "", &SDPError{Reason: "relay offer for the alternate video receives no video"}
	}
	sess := s.newSession(room, RoleRelay)
	sess.relaysAlternate = true
	answer, err := s.join(room, sess, func() (string, error) { return s.startRelay(ctx, sess, me, offerSDP, plan) })
	if err != nil {
		return nil, "", err
	}
	sess.log.Info("relay subscriber session of the alternate video", "codec", alt.codec.MimeType)
	return sess, answer, nil
}

// nodeRelays is the number of other nodes relaying the room: its relay subscribers, less
// those carrying the alternate video (a second session of a node counted already).
// Called with r.mu held.
func (r *Room) nodeRelays() int {
	n := 0
	for _, rs := range r.relays {
		if !rs.relaysAlternate {
			n++
		}
	}
	return n
}

// viewerSlot registers, for a viewer's media section m, the codec that carries sl (or the
// room's alternate *alt), as registerViewerCodec does. In a relayed room whose relay is
// bringing the alternate, a video section that needs it waits up to relayedAlternateWait
// for it (setting *alt) when the section offers H.264; a CodecError names where the origin
// serves it while it is not here.
func (r *Room) viewerSlot(ctx context.Context, me *webrtc.MediaEngine, m offeredMedia, sl *slot, alt **slot, remb bool) (*slot, error) {
	got, err := registerViewerCodec(me, m, sl, *alt, remb)
	var ce *CodecError
	if err == nil || *alt != nil || !errors.As(err, &ce) || ce.Kind != "video" || !offersH264(m) {
		return got, err
	}
	if *alt = r.awaitRelayedAlternate(ctx); *alt != nil {
		got, err = registerViewerCodec(me, m, sl, *alt, remb)
		if err == nil || !errors.As(err, &ce) {
			return got, err
		}
	}
	r.mu.Lock()
	if r.alt.pub == nil && r.relayBringsAlternate() {
		ce.AlternateAt = r.alt.at
	}
	r.mu.Unlock()
	return nil, ce
}

// offersH264 reports whether media section m offers H.264, the alternate's codec.
func offersH264(m offeredMedia) bool {
	return slices.ContainsFunc(m.Codecs, func(c offeredCodec) bool { return strings.EqualFold(c.MimeType, webrtc.MimeTypeH264) })
}

// awaitRelayedAlternate returns the room's alternate slot once it has a publisher: at once
// when it has one, after up to relayedAlternateWait when the room's relay publisher said
// the upstream has one, else nil.
func (r *Room) awaitRelayedAlternate(ctx context.Context) *slot {
	r.mu.Lock()
	if r.alt.pub == nil && !r.relayBringsAlternate() {
		r.mu.Unlock()
		return nil
	}
	came := r.alt.arrival()
	r.mu.Unlock()
	wait := time.NewTimer(relayedAlternateWait)
	defer wait.Stop()
	select {
	case <-came:
	case <-wait.C:
	case <-ctx.Done():
	}
	return r.alternateSlot()
}
