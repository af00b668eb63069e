package sfu

import (
	"context"
	"fmt"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/config"
)

// Subscribe answers a WHEP offer with the room's tracks in the publisher's codecs. The
// room must have a live publisher (ErrNoPublisher otherwise); a viewer that cannot decode a
// codec the room sends gets its alternate video when it has one the viewer decodes
// (sfu/alternate.go; in a relayed room, once the relay brought it here), else a *CodecError
// (naming the origin's WHEP URL in a relayed room whose alternate has not arrived).
func (s *SFU) Subscribe(ctx context.Context, roomName, offerSDP string) (*Session, string, error) {
	o, room, slots, err := s.offerToLiveRoom(roomName, offerSDP)
	if err != nil {
		return nil, "", err
	}
	audioSlot, alt := slots["audio"], room.alternateSlot()
	me := &webrtc.MediaEngine{}
	var chosen []*slot
	for _, m := range o.Media {
		sl := slots[m.Kind]
		if sl == nil || m.Direction == "sendonly" || m.Direction == "inactive" {
			continue
		}
		sl, err := room.viewerSlot(ctx, me, m, sl, &alt, s.opts.ViewerBWE == ViewerBWEREMB)
		if err != nil {
			return nil, "", err
		}
		delete(slots, m.Kind)
		chosen = append(chosen, sl)
	}
	if len(chosen) == 0 {
		return nil, "", &SDPError{Reason: "offer receives no audio or video this room has"}
	}
	if err := registerLatencyExtensions(me); err != nil {
		return nil, "", err
	}
	bwe := newViewerBWE()
	ir, err := viewerInterceptors(me, bwe, s.opts.ViewerBWE)
	if err != nil {
		return nil, "", err
	}
	lendAttributes(ir, s.opts.ViewerBWE == ViewerBWETransportCC) // New made "" gcc
	if err := s.reserveViewer(room); err != nil {
		return nil, "", err
	}
	sess := s.newSession(room, RoleViewer)
	sess.viewerPlace = true
	answer, err := s.join(room, sess, func() (string, error) {
		return s.startViewer(ctx, sess, me, ir, offerSDP, chosen, bwe, audioSlot)
	})
	if err != nil {
		return nil, "", err
	}
	room.broadcastViewers()
	sess.log.Info("viewer session", "tracks", len(chosen))
	return sess, answer, nil
}

// registerRoomCodec registers, for media section m, the offered codec that carries sl's
// codec (a *CodecError when the section offers none).
func registerRoomCodec(me *webrtc.MediaEngine, m offeredMedia, sl *slot, remb bool) error {
	c, err := chooseViewerCodec(m, sl.codec)
	if err != nil {
		return err
	}
	return registerOffered(me, m, c, viewerFeedback(m.Kind, remb))
}

// join starts sess, a viewer or a relay subscriber of room, with start (which returns the
// answer), then adds it to the room's viewers or relays with its downtracks attached. A
// session that did not start is closed.
func (s *SFU) join(room *Room, sess *Session, start func() (string, error)) (string, error) {
	answer, err := start()
	if err != nil {
		sess.Close()
		return "", err
	}
	room.mu.Lock()
	if sess.Role == RoleRelay {
		room.relays[sess.ID] = sess
	} else {
		room.viewers[sess.ID] = sess
	}
	room.mu.Unlock()
	for _, d := range sess.DownTracks() {
		d.slot.attach(d)
	}
	return answer, nil
}

// offerToLiveRoom parses a WHEP offer and returns it with its live room and a copy of the
// room's slots by kind (ErrNoPublisher when the room is not live).
func (s *SFU) offerToLiveRoom(roomName, offerSDP string) (*offer, *Room, map[string]*slot, error) {
	o, err := parseOffer(offerSDP)
	if err != nil {
		return nil, nil, nil, err
	}
	s.mu.Lock()
	room := s.rooms[roomName]
	s.mu.Unlock()
	if room == nil {
		return nil, nil, nil, ErrNoPublisher
	}
	room.mu.Lock()
	live, slots := room.live, map[string]*slot{}
	for k, sl := range room.slots {
		slots[k] = sl
	}
	room.mu.Unlock()
	if !live {
		return nil, nil, nil, ErrNoPublisher
	}
	return o, room, slots, nil
}

func (s *SFU) startViewer(ctx context.Context, sess *Session, me *webrtc.MediaEngine, ir *interceptor.Registry,
	offerSDP string, slots []*slot, bwe *viewerBWE, audio *slot) (string, error) {
	settings := []func(*webrtc.SettingEngine){setViewerReadBuffers}
	if s.tr.batch != nil && s.opts.ViewerBWE != ViewerBWETransportCC {
		sess.egress = newEgress(s.tr.batch, bwe, sess.log, sess.Close)
		settings = append(settings, sess.egress.keys.applyTo)
	}
	pc, err := s.connect(sess, me, ir, settings...)
	if err != nil {
		return "", err
	}
	if onDC := s.opts.ViewerDataChannel; onDC != nil {
		pc.OnDataChannel(func(dc *webrtc.DataChannel) { onDC(sess.Room, sess.ID, dc) })
	}
	addTracks := func() error {
		var video, audioDown *DownTrack
		for _, sl := range slots {
			d := newDownTrack(sl.kind, "glint-"+sess.Room, sl, sess.log.With("kind", sl.kind))
			d.bwe, d.audio, d.egress = bwe, audio, sess.egress
			d.zeroPlayout = sess.room.policy.Latency != config.LatencySync
			sender, err := pc.AddTrack(d)
			if err != nil {
				return fmt.Errorf("add %s track: %w", sl.kind, err)
			}
			sess.mu.Lock()
			sess.downs = append(sess.downs, d)
			sess.mu.Unlock()
			sess.goOwned(func() { d.rtcpLoop(sender) })
			sess.goOwned(func() { d.run(sess.ctx) })
			sess.goOwned(func() { d.runProbes(sess.ctx.Done()) })
			if d.isVideo {
				video = d
			} else {
				audioDown = d
			}
		}
		if video != nil {
			alloc := &allocator{d: video, audio: audioDown, bwe: bwe, current: rankAny}
			sess.goOwned(func() { alloc.run(sess.ctx.Done()) })
		}
		return nil
	}
	answer, err := sess.answer(ctx, offerSDP, addTracks)
	bwe.twcc.Store(strings.Contains(answer, "transport-wide-cc"))
	if err == nil {
		sess.goOwned(func() { runSenderReports(sess.ctx, pc, sess.DownTracks, srInterval, sess.log) })
	}
	return answer, err
}
