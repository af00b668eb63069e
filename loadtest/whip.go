package loadtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// The publisher has its own small WHIP client instead of package client's because it must
// read its senders' RTCP (keyframe requests), which client.Session drains internally.

// Payload types and codecs the publisher offers.
const (
	h264PayloadType = 102
	opusPayloadType = 111
)

func h264Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []webrtc.RTCPFeedback{
			{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
			{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		},
	}
}

func opusCodec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	}
}

// newPublisherPeer builds a PeerConnection that can send H.264 and Opus, with pion's default
// interceptors (NACK responder, sender reports), the simulcast header extensions when
// asked, and ICE restricted like client.Options LoopbackOnly when loopback is set.
func newPublisherPeer(loopback, simulcast bool) (*webrtc.PeerConnection, error) {
	media := &webrtc.MediaEngine{}
	if err := media.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Codec(), PayloadType: h264PayloadType}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register H264: %w", err)
	}
	if err := media.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec(), PayloadType: opusPayloadType}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	if simulcast {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(media); err != nil {
			return nil, fmt.Errorf("simulcast extensions: %w", err)
		}
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(media, registry); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}
	settings := webrtc.SettingEngine{}
	if loopback {
		restrictToLoopback(&settings)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithInterceptorRegistry(registry), webrtc.WithSettingEngine(settings))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	return pc, nil
}

// restrictToLoopback is what client.Options.LoopbackOnly does: UDP4 host candidates on
// 127.0.0.1 only, no mDNS.
func restrictToLoopback(s *webrtc.SettingEngine) {
	loopback := net.IPv4(127, 0, 0, 1)
	s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopback) })
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
}

// whipSession is the signaling side of a WHIP exchange: the resource it created.
type whipSession struct {
	httpClient *http.Client
	token      string
	location   string
}

// negotiate makes pc's offer, waits for ICE gathering, POSTs it to endpoint and applies
// the answer (non-trickle WHIP, RFC 9725).
func (w *whipSession) negotiate(ctx context.Context, pc *webrtc.PeerConnection, endpoint string) error {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fmt.Errorf("gathering ICE candidates: %w", ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	w.authorize(req)
	resp, err := w.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("post offer: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("post offer to %s: server answered %d: %s", endpoint, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fmt.Errorf("answer has no usable Location header (%q)", resp.Header.Get("Location"))
	}
	base, _ := url.Parse(endpoint) // endpoint was already parsed by NewRequest
	w.location = base.ResolveReference(loc).String()
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}
	if err := pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("set remote description: %w", err)
	}
	return nil
}

// remove DELETEs the session's resource; it does nothing when none was created.
func (w *whipSession) remove(ctx context.Context) error {
	if w.location == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, w.location, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	w.authorize(req)
	resp, err := w.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("delete %s: %w", w.location, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("delete %s: server answered %d", w.location, resp.StatusCode)
	}
	return nil
}

func (w *whipSession) authorize(req *http.Request) {
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
}
