package sfu

import (
	"fmt"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/media"
)

// Latency header extensions on viewer connections. A viewer that offers them gets them:
//
//   - playout-delay (min = max = 0) on every video packet of a fastest room, so that the
//     browser renders each frame as soon as it is decoded. Sync rooms send none: min = max = 0
//     would cap the delay the page asks for with RTCRtpReceiver.jitterBufferTarget (Chromium
//     clamps its target delay into [min, max]), and a fixed value from the SFU cannot know
//     each viewer's path; the page, which measures capture → render, holds the target.
//   - abs-capture-time on the first packet of every video frame and on every audio packet:
//     the frame's capture instant as a 64-bit NTP time on the SFU's clock, from the source's
//     NTP ↔ RTP pair (a WHIP publisher's sender reports mapped onto the SFU's clock, the
//     ingest clock of an RTMP/SRT stream, or the least-delayed arrival of a source without
//     reports). Receivers interpolate the packets in between from the RTP timestamps.
const (
	playoutDelayURI   = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
	absCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
)

// registerLatencyExtensions offers the latency header extensions to a viewer; the answer
// carries only those its offer has.
func registerLatencyExtensions(me *webrtc.MediaEngine) error {
	exts := []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{playoutDelayURI, webrtc.RTPCodecTypeVideo},
		{absCaptureTimeURI, webrtc.RTPCodecTypeVideo},
		{absCaptureTimeURI, webrtc.RTPCodecTypeAudio},
	}
	for _, e := range exts {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.kind); err != nil {
			return fmt.Errorf("register %s: %w", e.uri, err)
		}
	}
	return nil
}

// latencyStamps writes a downtrack's latency header extensions into its outgoing header. It
// is owned by the downtrack's forwarding goroutine (under DownTrack.mu) and never allocates:
// the payloads live in fixed buffers that the header's extension list points at.
type latencyStamps struct {
	playoutID uint8 // negotiated id of playout-delay (0: none, or not sent in this room)
	captureID uint8 // negotiated id of abs-capture-time (0: none)
	playout   [3]byte
	capture   [8]byte

	lastSrc *UpTrack // the source and RTP time of the last stamped frame
	lastTS  uint32
}

// bind takes the ids the viewer negotiated; zeroPlayout says the room is a fastest one.
func (l *latencyStamps) bind(exts []webrtc.RTPHeaderExtensionParameter, zeroPlayout bool, hdr *rtp.Header) {
	*l = latencyStamps{}
	for _, e := range exts {
		switch {
		case e.URI == playoutDelayURI && zeroPlayout:
			l.playoutID = uint8(e.ID)
		case e.URI == absCaptureTimeURI:
			l.captureID = uint8(e.ID)
		}
	}
	if l.playoutID != 0 {
		if _, err := (rtp.PlayoutDelayExtension{}).MarshalTo(l.playout[:]); err == nil {
			// Every packet carries it: set once, the header keeps it.
			if hdr.SetExtension(l.playoutID, l.playout[:]) != nil {
				l.playoutID = 0
			}
		}
	}
}

// stamp sets or clears abs-capture-time on hdr for a packet of src with the source's RTP
// time srcTS: set on a frame's first packet when the source's clock is known, cleared on
// the others.
func (l *latencyStamps) stamp(hdr *rtp.Header, src *UpTrack, srcTS uint32, now time.Time) {
	if l.captureID == 0 {
		return
	}
	if src == l.lastSrc && srcTS == l.lastTS {
		_ = hdr.DelExtension(l.captureID)
		return
	}
	l.lastSrc, l.lastTS = src, srcTS
	capture, ok := src.captureTime(srcTS, now)
	if !ok {
		_ = hdr.DelExtension(l.captureID)
		return
	}
	ext := rtp.AbsCaptureTimeExtension{Timestamp: ntpTime(capture)}
	if _, err := ext.MarshalTo(l.capture[:]); err != nil || hdr.SetExtension(l.captureID, l.capture[:]) != nil {
		_ = hdr.DelExtension(l.captureID)
	}
}

// captureTime is the instant, on the SFU's clock, at which the source captured the sample
// with RTP time ts: from the source's NTP ↔ RTP pair (see sourcePair).
func (u *UpTrack) captureTime(ts uint32, now time.Time) (time.Time, bool) {
	pair, ok := u.sourcePair(now)
	if !ok || u.codec.ClockRate == 0 {
		return time.Time{}, false
	}
	since := media.Duration(int64(int32(ts-pair.rtp)), u.codec.ClockRate)
	return time.Unix(0, pair.wallNs).Add(since), true
}

// roomLatencyInfo fills a room's public latency policy: its mode, and a sync room's targets.
func roomLatencyInfo(info *RoomInfo, p config.RoomSettings) {
	info.Latency = config.LatencyFastest
	if p.Latency == config.LatencySync {
		info.Latency = config.LatencySync
		info.TargetDelayMs = p.SyncDelay.Milliseconds()
		info.HLSTargetDelayMs = p.SyncHLSDelay.Milliseconds()
	}
}
