// Package client is a WebRTC publisher (WHIP, RFC 9725) and viewer (WHEP)
// built on pion. It owns the client side of the signaling exchange: one
// non-trickle offer/answer over HTTP, the resource URL the server hands back,
// and the DELETE that ends the session. Tests, `glint demo` and `glint loadtest`
// use it to talk to a Glint server exactly like any outside client would.
package client

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Options configures a publisher or viewer session.
type Options struct {
	// Token, when set, is sent as "Authorization: Bearer <Token>" on every
	// request (the offer and the DELETE).
	Token string
	// Header, when set, is added to every request (a relay's hop count, for example).
	Header http.Header
	// HTTPClient sends the requests. When nil, each session uses a client of
	// its own (a clone of http.DefaultTransport) whose connections close with
	// the session. Deadlines come from the contexts passed to Publish, Play
	// and Close.
	HTTPClient *http.Client
	// SettingEngine, when set, is called last on the pion SettingEngine so a
	// caller can tweak it (ICE timeouts, ports, a virtual network).
	SettingEngine func(*webrtc.SettingEngine)
	// LoopbackOnly restricts ICE to UDP4 host candidates on 127.0.0.1 with
	// mDNS off and no STUN. Tests always set it.
	LoopbackOnly bool
	// OnTrack, when set, is called for every remote track. It is registered
	// before the offer is made, so no media is missed. When nil, a session
	// reads and discards remote media itself so interceptors (receiver
	// reports, NACK) keep running.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	// Codecs, when non-empty, replaces pion's default codecs in the media
	// engine (for example a viewer that only offers VP8). Video codecs without
	// RTCP feedback get pion's default set (goog-remb, ccm fir, nack, nack pli);
	// transport-cc is added by the default interceptors.
	Codecs []webrtc.RTPCodecParameters
	// OnRTCP, when set, gets the RTCP the server sends about each published
	// track (keyframe requests, receiver reports, NACKs), already through the
	// interceptors: track is the one of Publish's tracks the packets concern.
	// It is called from one goroutine per track, so it must be safe for
	// concurrent use, and return quickly. Packets that do not parse are
	// skipped. When nil, the RTCP is read and dropped.
	OnRTCP func(track webrtc.TrackLocal, pkts []rtcp.Packet)
}

// HTTPError is the error for a signaling request the server answered with
// an unexpected status (anything but 201 to an offer, 2xx to a DELETE).
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// Body is the response body (truncated to maxBodyBytes).
	Body string
}

func (e *HTTPError) Error() string {
	body := strings.TrimSpace(e.Body)
	if body == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), body)
}

// defaultVideoFeedback is what pion's RegisterDefaultCodecs gives video codecs.
func defaultVideoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBGoogREMB},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBNACK},
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	}
}

// newPeerConnection builds a PeerConnection with the codecs, interceptors and
// ICE settings that opts asks for, and the simulcast header extensions (mid,
// rid) when it is to send simulcast.
func newPeerConnection(opts Options, simulcast bool) (*webrtc.PeerConnection, error) {
	media := &webrtc.MediaEngine{}
	if err := registerCodecs(media, opts.Codecs); err != nil {
		return nil, err
	}
	if simulcast {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(media); err != nil {
			return nil, fmt.Errorf("simulcast header extensions: %w", err)
		}
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(media, registry); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}

	settings := webrtc.SettingEngine{}
	if opts.LoopbackOnly {
		loopback := net.IPv4(127, 0, 0, 1)
		settings.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopback) })
		settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		settings.SetIncludeLoopbackCandidate(true)
		settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	if opts.SettingEngine != nil {
		opts.SettingEngine(&settings)
	}

	api := webrtc.NewAPI(
		webrtc.WithMediaEngine(media),
		webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(settings),
	)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	return pc, nil
}

// registerCodecs registers pion's defaults when codecs is empty, else exactly
// the given codecs, each under the kind its MIME type names.
func registerCodecs(media *webrtc.MediaEngine, codecs []webrtc.RTPCodecParameters) error {
	if len(codecs) == 0 {
		if err := media.RegisterDefaultCodecs(); err != nil {
			return fmt.Errorf("register default codecs: %w", err)
		}
		return nil
	}
	for _, codec := range codecs {
		mime := strings.ToLower(codec.MimeType)
		var kind webrtc.RTPCodecType
		switch {
		case strings.HasPrefix(mime, "video/"):
			kind = webrtc.RTPCodecTypeVideo
			if len(codec.RTCPFeedback) == 0 && mime != strings.ToLower(webrtc.MimeTypeRTX) {
				codec.RTCPFeedback = defaultVideoFeedback()
			}
		case strings.HasPrefix(mime, "audio/"):
			kind = webrtc.RTPCodecTypeAudio
		default:
			return fmt.Errorf("register codec %q: mime type is neither audio/ nor video/", codec.MimeType)
		}
		if err := media.RegisterCodec(codec, kind); err != nil {
			return fmt.Errorf("register codec %s/%d: %w", codec.MimeType, codec.PayloadType, err)
		}
	}
	return nil
}
