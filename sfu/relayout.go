package sfu

import (
	"context"
	"fmt"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Relays between nodes (package relay). The sending side is a relay subscriber: a WHEP
// session of another node that receives every simulcast layer of the room, each on its own
// video m-section, pinned to that layer (no bandwidth estimate, no layer choice), plus the
// audio. Its downtracks are ordinary ones otherwise: NACKs are answered from the ring,
// keyframe requests go to the source throttled, sender reports carry the source's clock.
// A relay subscriber is not a viewer: it is not counted in the room's viewers.

// RoleRelay is a relay subscriber session (a WHEP session of another node).
const RoleRelay Role = "relay"

// RelayTrackID is the track id (the msid's track part) a relay subscriber's track has:
// "video-h" for video layer h, "video" for video without simulcast, "audio".
func RelayTrackID(kind, rid string) string {
	if rid == "" {
		return kind
	}
	return kind + "-" + rid
}

// ParseRelayTrackID is the inverse of RelayTrackID.
func ParseRelayTrackID(id string) (kind, rid string) {
	kind, rid, _ = strings.Cut(id, "-")
	return kind, rid
}

// SubscribeRelay answers a relay's WHEP offer: the offer's video m-sections get the room's
// simulcast layers from low to high quality (one each; extra sections stay empty) and its
// first audio section the audio. Errors are those of Subscribe.
func (s *SFU) SubscribeRelay(ctx context.Context, roomName, offerSDP string) (*Session, string, error) {
	o, room, slots, err := s.offerToLiveRoom(roomName, offerSDP)
	if err != nil {
		return nil, "", err
	}
	me := &webrtc.MediaEngine{}
	var plan []relayTrack
	var layers []*UpTrack
	if v := slots["video"]; v != nil {
		layers = v.layersByQuality()
	}
	audioDone := false
	for _, m := range o.Media {
		sl := slots[m.Kind]
		if sl == nil || m.Direction == "sendonly" || m.Direction == "inactive" {
			continue
		}
		rt := relayTrack{slot: sl}
		switch {
		case m.Kind == "audio" && !audioDone:
			audioDone = true
		case m.Kind == "video" && len(layers) > 0:
			rt.rid, rt.pinned = layers[0].rid, true
			layers = layers[1:]
		default:
			continue
		}
		if err := registerRoomCodec(me, m, sl, false); err != nil {
			return nil, "", err
		}
		plan = append(plan, rt)
	}
	if len(plan) == 0 {
		return nil, "", &SDPError{Reason: "relay offer receives no audio or video this room has"}
	}
	sess := s.newSession(room, RoleRelay)
	answer, err := s.join(room, sess, func() (string, error) { return s.startRelay(ctx, sess, me, offerSDP, plan) })
	if err != nil {
		return nil, "", err
	}
	sess.log.Info("relay subscriber session", "tracks", len(plan))
	return sess, answer, nil
}

// relayTrack is one track of a relay subscriber: a slot, pinned to one layer for video.
type relayTrack struct {
	slot   *slot
	rid    string
	pinned bool
}

func (s *SFU) startRelay(ctx context.Context, sess *Session, me *webrtc.MediaEngine, offerSDP string, plan []relayTrack) (string, error) {
	pc, err := s.connect(sess, me, &interceptor.Registry{}, setViewerReadBuffers)
	if err != nil {
		return "", err
	}
	addTracks := func() error {
		for _, rt := range plan {
			d := newDownTrack(RelayTrackID(rt.slot.kind, rt.rid), "glint-relay-"+sess.Room, rt.slot,
				sess.log.With("kind", rt.slot.kind))
			d.pinned, d.pinRID = rt.pinned, rt.rid
			sender, err := pc.AddTrack(d)
			if err != nil {
				return fmt.Errorf("add relay %s track: %w", rt.slot.kind, err)
			}
			sess.mu.Lock()
			sess.downs = append(sess.downs, d)
			sess.mu.Unlock()
			sess.goOwned(func() { d.rtcpLoop(sender) })
			sess.goOwned(func() { d.run(sess.ctx) })
		}
		return nil
	}
	answer, err := sess.answer(ctx, offerSDP, addTracks)
	if err == nil {
		sess.goOwned(func() { runSenderReports(sess.ctx, pc, sess.DownTracks, relaySRInterval, sess.log) })
	}
	return answer, err
}

// pinnedSource is a relay downtrack's layer: the slot's layer with the pinned rid (nil while
// the room's publisher has none).
func (d *DownTrack) pinnedSource() *UpTrack {
	for _, l := range d.slot.layersByQuality() {
		if l.rid == d.pinRID {
			return l
		}
	}
	return nil
}
