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
	// at and atBy: in a relayed room whose upstream has an alternate, where the origin
	// serves it (a WHEP URL), as told by the relay publisher atBy while it brings the
	// alternate here (sfu/relayalternate.go); it holds while atBy is the room's publisher.
	at     string
	atFmtp string // the upstream's alternate's SDP format
	atBy   *Session
	// came is closed when the alternate gets a publisher (made anew when it loses it).
	came chan struct{}
}

// arrival is the channel closed when the alternate gets its next publisher (already closed
// while it has one). Called with r.mu held.
func (a *alternateState) arrival() chan struct{} {
	if a.came == nil {
		a.came = make(chan struct{})
		if a.pub != nil {
			close(a.came)
		}
	}
	return a.came
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
	room, err := s.existingRoom(roomName)
	if err != nil {
		return nil, fmt.Errorf("publish alternate %q: %w", roomName, err)
	}
	sess, up, err := s.startAlternate(room, codec, rand.Uint32(), localRTCP{onKeyframe}, false)
	if err != nil {
		return nil, err
	}
	return &AlternatePublisher{&LocalPublisher{sess: sess, tracks: map[string]*UpTrack{"video": up}}}, nil
}

// startAlternate makes a session of RoleAlternate with one pushed H.264 uptrack (ssrc, its
// keyframe requests and NACKs to rtcp) the room's alternate video, replacing the one it
// had. remoteClock: its sender reports come from another node's clock (a relay), mapped
// onto this one by the session's srcClock; else they are on the SFU's clock.
func (s *SFU) startAlternate(room *Room, codec webrtc.RTPCodecParameters, ssrc uint32, rtcp rtcpWriter,
	remoteClock bool) (*Session, *UpTrack, error) {
	if !strings.EqualFold(codec.MimeType, webrtc.MimeTypeH264) {
		return nil, nil, fmt.Errorf("publish alternate %q: codec %s, want %s", room.name, codec.MimeType, webrtc.MimeTypeH264)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, nil, ErrClosed
	}
	sess := s.newSession(room, RoleAlternate)
	sess.local = true
	up := newPushedUpTrack("video", "", ssrc, codec, rtcp, s.opts.PLIInterval,
		newJoinLagPolicy(s.opts.KeyframeCacheAge), sess.log)
	up.owner = sess.ID
	if remoteClock {
		up.clock = &sess.srcClock
	}
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
	return sess, up, nil
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
	if previous == nil && r.alt.came != nil {
		close(r.alt.came)
	}
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
	r.alt.pub, r.alt.came = nil, nil
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

// alternateInfo describes the alternate video for RoomInfo: the one published here, or in a
// relayed room the upstream's that the relay is bringing (so a deeper relay asks for it at
// once); nil otherwise. Called with r.mu held.
func (r *Room) alternateInfo() *TrackInfo {
	switch {
	case r.alt.pub != nil && r.alt.slot != nil:
		return &TrackInfo{Kind: "video", Codec: codecName(r.alt.slot.codec.MimeType), Fmtp: r.alt.slot.codec.SDPFmtpLine}
	case r.relayBringsAlternate():
		return &TrackInfo{Kind: "video", Codec: codecName(webrtc.MimeTypeH264), Fmtp: r.alt.atFmtp}
	}
	return nil
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
