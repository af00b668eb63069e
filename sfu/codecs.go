package sfu

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// supportedCodec is a codec a publisher may send. Fmtp constrains H.264, VP9, AV1 and H.265 offers to
// profiles every WebRTC viewer decodes; an empty Fmtp accepts any parameters.
type supportedCodec struct {
	MimeType string
	Clock    uint32
	Channels uint16
	Fmtps    []string
}

// supportedCodecs lists what Glint accepts from publishers, per kind.
var supportedCodecs = map[string][]supportedCodec{
	"video": {
		{MimeType: webrtc.MimeTypeH264, Clock: 90000, Fmtps: []string{
			"profile-level-id=42e01f;packetization-mode=1", "profile-level-id=42e01f;packetization-mode=0",
			"profile-level-id=42001f;packetization-mode=1", "profile-level-id=42001f;packetization-mode=0",
			"profile-level-id=4d001f;packetization-mode=1", "profile-level-id=4d001f;packetization-mode=0",
			"profile-level-id=640032;packetization-mode=1", "profile-level-id=640032;packetization-mode=0",
		}},
		{MimeType: webrtc.MimeTypeVP8, Clock: 90000},
		{MimeType: webrtc.MimeTypeVP9, Clock: 90000, Fmtps: []string{"profile-id=0", "profile-id=2"}},
		{MimeType: webrtc.MimeTypeAV1, Clock: 90000, Fmtps: []string{"profile=0"}},
		{MimeType: webrtc.MimeTypeH265, Clock: 90000, Fmtps: []string{"profile-id=1"}},
	},
	"audio": {
		{MimeType: webrtc.MimeTypeOpus, Clock: 48000, Channels: 2},
	},
}

// supportedList names the accepted codecs of a kind, for error messages.
func supportedList(kind string) string {
	var names []string
	for _, c := range supportedCodecs[kind] {
		names = append(names, strings.TrimPrefix(c.MimeType, kind+"/"))
	}
	return strings.Join(names, ", ")
}

// CodecError says an offer has no codec Glint can use; the signaling layer answers 406.
type CodecError struct {
	Kind    string
	Offered []string
	Allowed string
	// AlternateAt is, in a room relayed from another node, the room's WHEP URL on the
	// node that sends its alternate H.264 video (sfu/alternate.go) while the relay has
	// not brought it here yet (sfu/relayalternate.go).
	AlternateAt string
}

func (e *CodecError) Error() string {
	msg := fmt.Sprintf("no usable %s codec: offered [%s], this server uses [%s]", e.Kind, strings.Join(e.Offered, ", "), e.Allowed)
	if e.AlternateAt != "" {
		msg += fmt.Sprintf("; this node has not received the room's H264 version from its origin node yet: play it at %s", e.AlternateAt)
	}
	return msg
}

func offeredNames(m offeredMedia) []string {
	var names []string
	for _, c := range m.Codecs {
		n := strings.TrimPrefix(c.MimeType, m.Kind+"/")
		if c.Fmtp != "" {
			n += " (" + c.Fmtp + ")"
		}
		names = append(names, n)
	}
	return names
}

// publisherCodecs returns the codecs of m, in the publisher's order of preference, that
// Glint supports; the publisher may send any of them, and the room learns which from its
// first packet.
func publisherCodecs(m offeredMedia) ([]offeredCodec, error) {
	var out []offeredCodec
	for _, c := range m.Codecs {
		if isSupported(m.Kind, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, &CodecError{Kind: m.Kind, Offered: offeredNames(m), Allowed: supportedList(m.Kind)}
	}
	return out, nil
}

func isSupported(kind string, c offeredCodec) bool {
	for _, s := range supportedCodecs[kind] {
		if !strings.EqualFold(c.MimeType, s.MimeType) || c.ClockRate != s.Clock {
			continue
		}
		if len(s.Fmtps) == 0 {
			return true
		}
		for _, f := range s.Fmtps {
			if media.FmtpCompatible(s.MimeType, c.Fmtp, f) {
				return true
			}
		}
	}
	return false
}

// chooseViewerCodec returns the viewer's offered codec that can carry the room's codec.
func chooseViewerCodec(m offeredMedia, room webrtc.RTPCodecParameters) (offeredCodec, error) {
	for _, c := range m.Codecs {
		if strings.EqualFold(c.MimeType, room.MimeType) && c.ClockRate == room.ClockRate &&
			media.FmtpCompatible(room.MimeType, room.SDPFmtpLine, c.Fmtp) {
			return c, nil
		}
	}
	allowed := strings.TrimPrefix(room.MimeType, m.Kind+"/")
	if room.SDPFmtpLine != "" {
		allowed += " (" + room.SDPFmtpLine + ")"
	}
	return offeredCodec{}, &CodecError{Kind: m.Kind, Offered: offeredNames(m), Allowed: allowed}
}

// feedbackFor is the RTCP feedback Glint negotiates per kind.
func feedbackFor(kind string) []webrtc.RTCPFeedback {
	if kind == "audio" {
		return []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
	}
	return []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"}, {Type: webrtc.TypeRTCPFBGoogREMB},
		{Type: webrtc.TypeRTCPFBTransportCC},
	}
}

// viewerFeedback is the RTCP feedback negotiated with a viewer: feedbackFor's, without
// transport-cc when the viewer estimates its own bandwidth (Options.ViewerBWE remb).
func viewerFeedback(kind string, remb bool) []webrtc.RTCPFeedback {
	fb := feedbackFor(kind)
	if !remb {
		return fb
	}
	return slices.DeleteFunc(fb, func(f webrtc.RTCPFeedback) bool { return f.Type == webrtc.TypeRTCPFBTransportCC })
}

// registerOffered registers codec c of media m with RTCP feedback fb, and its RTX format if
// the offer has one, under the offer's own payload types so that the answer contains exactly
// these codecs.
func registerOffered(me *webrtc.MediaEngine, m offeredMedia, c offeredCodec, fb []webrtc.RTCPFeedback) error {
	kind := webrtc.RTPCodecTypeAudio
	if m.Kind == "video" {
		kind = webrtc.RTPCodecTypeVideo
	}
	params := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels,
			SDPFmtpLine: c.Fmtp, RTCPFeedback: fb,
		},
		PayloadType: webrtc.PayloadType(c.PayloadType),
	}
	if err := me.RegisterCodec(params, kind); err != nil {
		return fmt.Errorf("register %s: %w", c.MimeType, err)
	}
	if rtx, ok := m.rtxFor[c.PayloadType]; ok && m.Kind == "video" {
		err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeRTX, ClockRate: c.ClockRate,
				SDPFmtpLine: fmt.Sprintf("apt=%d", c.PayloadType),
			},
			PayloadType: webrtc.PayloadType(rtx),
		}, kind)
		if err != nil {
			return fmt.Errorf("register rtx: %w", err)
		}
	}
	return nil
}
