package sfu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/pion/webrtc/v4"
)

// The alternate video of a room: a room whose publisher sends a codec not every browser
// decodes (H.265, AV1) also carries an H.264 version of its video, made in the process
// (hlsbridge's source-size H.264 rung) and published with PublishAlternate. It is a second
// video slot beside the room's own: a WHEP viewer whose offer lacks the room's codec but
// has the alternate's is bound to it, every other viewer to the room's video; the audio is
// the same for both. The alternate's packets take the same path to viewers as any
// publisher's (a pushed uptrack in a slot: keyframe cache, NACKs from the ring, sender
// reports, PLIs to its source), so the forwarder knows nothing of it.

// RoleAlternate is the session of an alternate video's publisher (in-process, not a
// signaling resource, not counted as a publisher or a viewer).
const RoleAlternate Role = "alternate"

// alternateState is a room's alternate video: its slot outlives its publishers (viewers
// wait for the next one, as they do for the room's publisher).
type alternateState struct {
	slot *slot
	pub  *Session
	// at and atBy: in a relayed room, where the origin serves the alternate (a WHEP URL),
	// as told by the relay publisher atBy; it holds while atBy is the room's publisher.
	at   string
	atBy *Session
}

// AlternatePublisher feeds a room's alternate video. Push packets with WriteRTP("video",
// …) and give its timing with SetSenderReport, as for any LocalPublisher.
type AlternatePublisher struct {
	*LocalPublisher
}

// PublishAlternate makes an in-process source of H.264 video (codec: its RTP parameters,
// packetization-mode 1) the alternate video of an existing room, replacing the alternate it
// had. onKeyframe is called, throttled like PLIs, when its viewers need a keyframe (the
// source must send an IDR soon). ErrNoPublisher when the room does not exist (an alternate
// never creates a room), ErrClosed after Close.
func (s *SFU) PublishAlternate(roomName string, codec webrtc.RTPCodecParameters, onKeyframe func()) (*AlternatePublisher, error) {
	if !strings.EqualFold(codec.MimeType, webrtc.MimeTypeH264) {
		return nil, fmt.Errorf("publish alternate %q: codec %s, want %s", roomName, codec.MimeType, webrtc.MimeTypeH264)
	}
	room, err := s.existingRoom(roomName)
	if err != nil {
		return nil, fmt.Errorf("publish alternate %q: %w", roomName, err)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	sess := s.newSession(room, RoleAlternate)
	sess.local = true
	up := newPushedUpTrack("video", "", rand.Uint32(), codec, localRTCP{onKeyframe}, s.opts.PLIInterval,
		newJoinLagPolicy(s.opts.KeyframeCacheAge), sess.log)
	up.owner = sess.ID
	sess.ups = []*UpTrack{up}
	sl, previous, stale := room.setAlternate(sess, codec)
	if previous != nil {
		previous.Close()
	}
	for _, v := range stale {
		v.log.Info("alternate video changed codecs; closing viewer so it can renegotiate")
		go v.Close()
	}
	sl.addLayer(up)
	sess.log.Info("alternate video publisher", "codec", codec.MimeType, "fmtp", codec.SDPFmtpLine)
	return &AlternatePublisher{&LocalPublisher{sess: sess, tracks: map[string]*UpTrack{"video": up}}}, nil
}

// Viewers is the number of WebRTC viewers bound to the room's alternate video.
func (p *AlternatePublisher) Viewers() int {
	r := p.sess.room
	r.mu.Lock()
	sl := r.alt.slot
	r.mu.Unlock()
	if sl == nil {
		return 0
	}
	return len(sl.downtracks())
}

// setAlternate makes sess the room's alternate publisher and returns the slot it feeds,
// the publisher it replaces and the viewers of a slot replaced for a codec change.
func (r *Room) setAlternate(sess *Session, codec webrtc.RTPCodecParameters) (sl *slot, previous *Session, stale []*Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	previous = r.alt.pub
	r.alt.pub = sess
	if r.alt.slot != nil && sameCodec(r.alt.slot.codec, codec) {
		return r.alt.slot, previous, nil
	}
	if old := r.alt.slot; old != nil {
		for _, v := range r.viewers {
			if v.usesSlot(old) {
				stale = append(stale, v)
			}
		}
	}
	r.alt.slot = newSlot("video", codec)
	return r.alt.slot, previous, stale
}

// removeAlternate detaches the uptracks of sess, the room's alternate publisher until now;
// the slot stays with its viewers.
func (r *Room) removeAlternate(sess *Session) {
	r.mu.Lock()
	if r.alt.pub != sess {
		r.mu.Unlock()
		return
	}
	r.alt.pub = nil
	sl := r.alt.slot
	r.mu.Unlock()
	for _, up := range sess.upTracks() {
		sl.removeLayer(up)
	}
}

// alternateSlot is the room's alternate video slot while it has a publisher (nil otherwise).
func (r *Room) alternateSlot() *slot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.alt.pub == nil {
		return nil
	}
	return r.alt.slot
}

// alternateInfo describes the alternate video for RoomInfo (nil without a publisher).
// Called with r.mu held.
func (r *Room) alternateInfo() *TrackInfo {
	if r.alt.pub == nil || r.alt.slot == nil {
		return nil
	}
	return &TrackInfo{Kind: "video", Codec: codecName(r.alt.slot.codec.MimeType), Fmtp: r.alt.slot.codec.SDPFmtpLine}
}

// SetAlternateAt tells the relayed room that its origin sends an alternate H.264 video a
// relay does not carry, and where a viewer gets it: whepURL, the room's WHEP URL on the
// origin ("" when the origin has none). A viewer here whose offer lacks the room's video
// codec is then refused with a CodecError naming it (AlternateAt).
func (p *RelayPublisher) SetAlternateAt(whepURL string) {
	r := p.sess.room
	r.mu.Lock()
	r.alt.at, r.alt.atBy = whepURL, p.sess
	r.mu.Unlock()
}

// alternateElsewhere adds to a viewer's CodecError for the video where a relayed room's
// origin serves its alternate video, when its relay publisher said so.
func (r *Room) alternateElsewhere(err error) error {
	var ce *CodecError
	if !errors.As(err, &ce) || ce.Kind != "video" {
		return err
	}
	r.mu.Lock()
	if r.alt.atBy != nil && r.alt.atBy == r.publisher {
		ce.AlternateAt = r.alt.at
	}
	r.mu.Unlock()
	return err
}

// registerViewerCodec registers, for a viewer's media section m, the offered codec that
// carries sl's codec; a video section without it falls back to the room's alternate video
// (alt, nil when none) when it offers that. It returns the slot the viewer follows, or a
// *CodecError naming what the room can send.
func registerViewerCodec(me *webrtc.MediaEngine, m offeredMedia, sl, alt *slot, remb bool) (*slot, error) {
	err := registerRoomCodec(me, m, sl, remb)
	var ce *CodecError
	if alt == nil || m.Kind != "video" || !errors.As(err, &ce) {
		return sl, err
	}
	c, altErr := chooseViewerCodec(m, alt.codec)
	if altErr != nil {
		var altCE *CodecError
		if errors.As(altErr, &altCE) {
			ce.Allowed += ", " + altCE.Allowed
		}
		return nil, ce
	}
	return alt, registerOffered(me, m, c, viewerFeedback(m.Kind, remb))
}
