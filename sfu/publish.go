package sfu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
)

// Publish answers a WHIP offer: the session becomes the room's publisher (or ErrRoomBusy).
// Each media section is answered with the codecs of the offer that Glint supports, in the
// publisher's order; the room's slots take the codec of the tracks that arrive.
func (s *SFU) Publish(ctx context.Context, roomName, offerSDP string) (*Session, string, error) {
	o, err := parseOffer(offerSDP)
	if err != nil {
		return nil, "", err
	}
	me := &webrtc.MediaEngine{}
	kinds := map[string]bool{}
	for _, m := range o.Media {
		if m.Direction == "recvonly" || m.Direction == "inactive" || kinds[m.Kind] {
			continue // one track per kind: later sections reuse the registered codecs
		}
		codecs, err := publisherCodecs(m)
		if err == nil {
			codecs, err = s.backupCodecs(roomName, m, codecs)
		}
		if err != nil {
			return nil, "", err
		}
		for _, c := range codecs {
			if err := registerOffered(me, m, c, feedbackFor(m.Kind)); err != nil {
				return nil, "", err
			}
		}
		kinds[m.Kind] = true
	}
	if len(kinds) == 0 {
		return nil, "", &SDPError{Reason: "offer sends no audio or video (sections are recvonly or inactive)"}
	}
	ir, err := publisherInterceptors(me)
	if err != nil {
		return nil, "", err
	}
	sess, err := s.openPublisher(ctx, roomName, false)
	if err != nil {
		return nil, "", err
	}
	answer, err := s.startPublisher(ctx, sess, me, ir, offerSDP)
	if err != nil {
		sess.Close()
		return nil, "", err
	}
	sess.log.Info("publisher session")
	return sess, answer, nil
}

// openPublisher makes a new publisher session of the room, which it claims in the room
// directory: ErrRoomBusy when another session holds it, unless the policy is to replace
// that one (closed here). local is an in-process publisher (RTMP/SRT ingest), which is
// kept and pushed to the room's owner when another node owns the room (sfu/backup_remote.go).
func (s *SFU) openPublisher(ctx context.Context, roomName string, local bool) (*Session, error) {
	room, err := s.room(roomName)
	if err != nil {
		return nil, err
	}
	sess := s.newSession(room, RolePublisher)
	sess.local = local
	previous, err := s.claimPublisher(ctx, room, sess)
	if err != nil {
		s.dropIfIdle(room)
		return nil, err
	}
	if previous != nil {
		sess.log.Info("replacing publisher", "previous", previous.ID)
		previous.Close()
	}
	return sess, nil
}

// claimPublisher makes sess the room's publisher, returning the one it replaces. The
// directory's claim changes under the room's lock, so it always names room.publisher.
func (s *SFU) claimPublisher(ctx context.Context, room *Room, sess *Session) (*Session, error) {
	room.mu.Lock()
	defer room.mu.Unlock()
	policy := s.roomPolicy(room.name)
	if policy == config.PolicyBackup && room.publisher != nil && !room.publisher.fromRelay {
		return nil, s.standBy(room, sess)
	}
	c, err := s.opts.Directory.Claim(ctx, s.publisherRequest(room, sess, policy == config.PolicyReplace))
	if claimed := (*cluster.ClaimedError)(nil); errors.As(err, &claimed) {
		if claimed.Owner.Node == s.opts.Directory.Node() {
			return nil, ErrRoomBusy
		}
		if s.keepsRemote(policy, sess) {
			return nil, s.standByRemote(room, sess, claimed.Owner)
		}
		return nil, fmt.Errorf("%w: %w", ErrRoomBusy, err) // owned by another node: its ClaimedError names it
	}
	if err != nil {
		return nil, fmt.Errorf("publish %q: %w", room.name, err)
	}
	prev := room.publisher
	room.publisher, room.claim, room.live = sess, c, false
	return prev, nil
}

// publisherRequest is sess's claim of the room as its publisher.
func (s *SFU) publisherRequest(room *Room, sess *Session, replace bool) cluster.Request {
	return cluster.Request{
		Room: room.name, Kind: cluster.Publisher, Holder: sess.ID, Replace: replace,
		OnLost: func(_ cluster.Claim, err error) {
			sess.log.Error("room taken by another node: ending the publish", "err", err.Error())
			sess.Close()
		},
	}
}

// connect gives sess its PeerConnection (with the codecs and interceptors of its role),
// registers the session and follows its connection state.
func (s *SFU) connect(sess *Session, me *webrtc.MediaEngine, ir *interceptor.Registry,
	settings ...func(*webrtc.SettingEngine)) (*webrtc.PeerConnection, error) {
	pc, err := s.tr.api(me, ir, settings...).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	sess.pc = pc
	if err := s.register(sess); err != nil {
		return nil, err
	}
	sess.watchState()
	return pc, nil
}

func publisherInterceptors(me *webrtc.MediaEngine) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, fmt.Errorf("nack generator: %w", err)
	}
	ir.Add(gen)
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, fmt.Errorf("twcc: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, fmt.Errorf("simulcast extensions: %w", err)
	}
	return ir, nil
}

func (s *SFU) startPublisher(ctx context.Context, sess *Session, me *webrtc.MediaEngine, ir *interceptor.Registry, offerSDP string) (string, error) {
	pc, err := s.connect(sess, me, ir)
	if err != nil {
		return "", err
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		sess.goOwned(func() { sess.receiveTrack(track, receiver) })
	})
	return sess.answer(ctx, offerSDP, nil)
}

// receiveTrack runs one published track until it ends.
func (sess *Session) receiveTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	up := newUpTrack(track, sess.pc, sess.sfu.opts.PLIInterval, newJoinLagPolicy(sess.sfu.opts.KeyframeCacheAge), sess.log)
	up.clock, up.owner = &sess.srcClock, sess.ID
	sess.mu.Lock()
	sess.ups = append(sess.ups, up)
	sess.mu.Unlock()
	sess.goOwned(func() { readRTCP(receiver, up) })
	if !sess.room.addUpTrack(sess, up) {
		sess.log.Warn("track ignored: no slot for it", "kind", up.kind, "codec", up.codec.MimeType)
	}
	up.log.Info("uptrack started", "codec", up.codec.MimeType)
	up.readLoop(track)
	sess.room.removeUpTrack(up)
	sess.mu.Lock()
	sess.ups = removeFirst(sess.ups, up)
	sess.mu.Unlock()
	sess.sfu.retired.addUp(up)
	up.log.Info("uptrack ended", "packets", up.packets.Load())
}

// readRTCP reads a receiver's RTCP (of one simulcast layer when the track has a rid) so
// that its interceptors see the sender reports, and keeps the track's latest report as the
// source timing of the viewers' own reports. A packet that does not parse is skipped.
func readRTCP(receiver *webrtc.RTPReceiver, up *UpTrack) {
	var buf [1500]byte
	for {
		var n int
		var err error
		if up.rid != "" {
			n, _, err = receiver.ReadSimulcast(buf[:], up.rid)
		} else {
			n, _, err = receiver.Read(buf[:])
		}
		if err != nil {
			return // the track or the connection ended
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		now := time.Now()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				up.onSenderReport(sr, now)
			}
		}
	}
}
