package clienttest

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// addSyntheticTracks gives a viewer a VP8 and an Opus track fed with dummy
// payloads every 20 ms until the server closes or the session ends.
func (s *Server) addSyntheticTracks(pc *webrtc.PeerConnection) error {
	video, err := webrtc.NewTrackLocalStaticRTP(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "clienttest")
	if err != nil {
		return fmt.Errorf("new video track: %w", err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "clienttest")
	if err != nil {
		return fmt.Errorf("new audio track: %w", err)
	}
	for _, track := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		if _, err := pc.AddTrack(track); err != nil {
			return fmt.Errorf("add track %s: %w", track.ID(), err)
		}
	}
	s.goTracked(func() {
		ticker := time.NewTicker(20 * time.Millisecond)
		defer ticker.Stop()
		var seq uint16
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-ticker.C:
			}
			if pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
				return
			}
			seq++
			header := rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960, Marker: true}
			// A VP8 payload descriptor (start of partition) and a few bytes.
			_ = video.WriteRTP(&rtp.Packet{Header: header, Payload: []byte{0x10, 0, 0, 0, 0}})
			_ = audio.WriteRTP(&rtp.Packet{Header: header, Payload: []byte{0xf8, 0xff, 0xfe}})
		}
	})
	return nil
}

// newLoopbackPeerConnection is a pion peer with default codecs and
// interceptors that only uses 127.0.0.1 host candidates.
func newLoopbackPeerConnection() (*webrtc.PeerConnection, error) {
	media := &webrtc.MediaEngine{}
	if err := media.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("register codecs: %w", err)
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(media, registry); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}
	settings := webrtc.SettingEngine{}
	settings.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	settings.SetIncludeLoopbackCandidate(true)
	settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(settings))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	return pc, nil
}

// publishedVideo is a video track a publisher sends, where keyframe requests go.
type publishedVideo struct {
	pc   *webrtc.PeerConnection
	ssrc webrtc.SSRC
}

func (s *Server) addPublishedVideo(pc *webrtc.PeerConnection, track *webrtc.TrackRemote) {
	if track.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.videoIn = append(s.videoIn, publishedVideo{pc: pc, ssrc: track.SSRC()})
}

// RequestKeyframes sends a PLI for every video track publishers have sent so far, as an
// SFU does when a viewer needs a keyframe, and returns how many it sent.
func (s *Server) RequestKeyframes() int {
	s.mu.Lock()
	videos := append([]publishedVideo(nil), s.videoIn...)
	s.mu.Unlock()
	sent := 0
	for _, v := range videos {
		if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(v.ssrc)}}); err == nil {
			sent++
		}
	}
	return sent
}
