package loadtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// layerSpec is one video encoding a publisher sends: the only one, or a simulcast layer.
type layerSpec struct {
	rid           string // "" without simulcast
	width, height int
	kbps          int
}

// layerSpecs are the encodings of cfg: one, or with Simulcast three (rid h, m, l) at full,
// half and quarter size, as browsers send them.
func layerSpecs(cfg Config) []layerSpec {
	if !cfg.Simulcast {
		return []layerSpec{{"", cfg.Width, cfg.Height, cfg.BitrateKbps}}
	}
	even := func(v int) int { return max(16, v/2*2) }
	return []layerSpec{
		{"h", cfg.Width, cfg.Height, cfg.BitrateKbps},
		{"m", even(cfg.Width / 2), even(cfg.Height / 2), max(50, cfg.BitrateKbps/4)},
		{"l", even(cfg.Width / 4), even(cfg.Height / 4), max(50, cfg.BitrateKbps/16)},
	}
}

// videoLayer is one encoding's state in the publisher.
type videoLayer struct {
	spec           layerSpec
	source         videoSource
	track          *webrtc.TrackLocalStaticRTP
	pkt            rtp.Packet // reused: sequence number, timestamp, header extensions
	pkz            packetizer
	au             accessUnit // the frame being sent
	keyframeWanted atomic.Bool
}

func newVideoLayer(spec layerSpec, source videoSource) *videoLayer {
	return &videoLayer{spec: spec, source: source,
		pkt: rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32())}}}
}

// newTracks makes the publisher's tracks: one per video layer (the simulcast layers share
// the ID, so client.Publish sends them as the encodings of one sender), then the audio.
func (p *publisher) newTracks() ([]webrtc.TrackLocal, error) {
	var tracks []webrtc.TrackLocal
	for _, l := range p.layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.spec.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.spec.rid))
		}
		track, err := webrtc.NewTrackLocalStaticRTP(h264Codec(), "video", "loadtest", opts...)
		if err != nil {
			return nil, fmt.Errorf("video track: %w", err)
		}
		l.track = track
		tracks = append(tracks, track)
	}
	var err error
	if p.audio, err = webrtc.NewTrackLocalStaticRTP(opusCodec(), "audio", "loadtest"); err != nil {
		return nil, fmt.Errorf("audio track: %w", err)
	}
	return append(tracks, p.audio), nil
}

// setLayerExtensions puts the negotiated MID and RID header extensions into every
// layer's packets (pion does not add them itself; browsers do), so that the server can
// tell the layers apart.
func (p *publisher) setLayerExtensions() error {
	trs := p.sess.PeerConnection().GetTransceivers()
	i := slices.IndexFunc(trs, func(tr *webrtc.RTPTransceiver) bool { return tr.Kind() == webrtc.RTPCodecTypeVideo })
	if i < 0 {
		return errors.New("simulcast: no video transceiver")
	}
	tr := trs[i]
	var midID, ridID uint8
	for _, ext := range tr.Sender().GetParameters().HeaderExtensions {
		switch ext.URI {
		case sdp.SDESMidURI:
			midID = uint8(ext.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(ext.ID)
		}
	}
	if midID == 0 || ridID == 0 || tr.Mid() == "" {
		return errors.New("simulcast: the answer accepted no mid/rid header extensions")
	}
	for _, l := range p.layers {
		if err := l.pkt.Header.SetExtension(midID, []byte(tr.Mid())); err != nil {
			return fmt.Errorf("simulcast: mid extension: %w", err)
		}
		if err := l.pkt.Header.SetExtension(ridID, []byte(l.spec.rid)); err != nil {
			return fmt.Errorf("simulcast: rid extension: %w", err)
		}
	}
	return nil
}

// closeSources closes every layer's video source.
func (p *publisher) closeSources() {
	for _, l := range p.layers {
		l.source.close()
	}
}
