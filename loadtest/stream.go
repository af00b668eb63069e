package loadtest

import (
	"fmt"
	"time"

	"github.com/glint-video/glint/media"
)

// The publishers send real H.264 (libx264 through libav) and Opus. Every access unit is
// sent as: a capture-time SEI NAL unit (media.AppendCaptureSEI, stamped when the access
// unit is handed to the packetizer) in a packet of its own, or for an IDR in one STAP-A
// with the SPS and PPS, then the slices (single NAL unit packets, or FU-A fragments). A viewer
// thus finds a frame's capture time in its first packet.
const (
	maxPayload    = 1200 // bytes of RTP payload per packet
	audioInterval = 20   // milliseconds of audio per packet
	gopSeconds    = 2    // an IDR every 2 s (and on every keyframe request)
	opusKbps      = 48
)

// nalTypeMsk selects the type of an H.264 NAL unit header (the types are media's).
const nalTypeMsk = 0x1f

// Publisher modes.
const (
	PublisherLive = "live" // encode every frame with libx264; a keyframe request gets an IDR at once
	PublisherLoop = "loop" // encode gopSeconds once at start, then loop it (nearly free)
)

// accessUnit is one frame's NAL units (no start codes, no SEI).
type accessUnit struct {
	nals     [][]byte
	keyframe bool // an IDR with its SPS and PPS
}

// videoSource hands the publisher its access units, one per call.
type videoSource interface {
	next(forceIDR bool) (accessUnit, error)
	close()
}

// liveSource encodes every frame as it is asked for.
type liveSource struct {
	enc *videoEncoder
	buf []byte
	au  accessUnit
}

func newLiveSource(width, height, fps, kbps int) (*liveSource, error) {
	enc, err := newVideoEncoder(width, height, fps, kbps, gopSeconds*fps)
	if err != nil {
		return nil, err
	}
	return &liveSource{enc: enc}, nil
}

func (s *liveSource) next(forceIDR bool) (accessUnit, error) {
	var err error
	s.buf, s.au.keyframe, err = s.enc.next(s.buf[:0], forceIDR)
	if err != nil {
		return accessUnit{}, err
	}
	s.au.nals = appendNALs(s.au.nals[:0], s.buf)
	return s.au, nil
}

func (s *liveSource) close() {
	if s.enc != nil {
		s.enc.close()
		s.enc = nil
	}
}

// loopSource replays pre-encoded access units: the first is an IDR, so looping (and a
// keyframe request, which restarts the loop) keeps the stream decodable. Its frames are
// shared read-only by every publisher of a run.
type loopSource struct {
	frames []accessUnit
	pos    int
}

// preEncode encodes seconds of video once, for loop sources.
func preEncode(width, height, fps, kbps, seconds int) ([]accessUnit, error) {
	n := seconds * fps
	enc, err := newVideoEncoder(width, height, fps, kbps, n)
	if err != nil {
		return nil, err
	}
	defer enc.close()
	frames := make([]accessUnit, n)
	for i := range frames {
		buf, key, err := enc.next(nil, i == 0)
		if err != nil {
			return nil, err
		}
		frames[i] = accessUnit{nals: appendNALs(nil, buf), keyframe: key}
	}
	if !frames[0].keyframe {
		return nil, fmt.Errorf("pre-encoded video does not start with an IDR")
	}
	return frames, nil
}

func (s *loopSource) next(forceIDR bool) (accessUnit, error) {
	if forceIDR {
		s.pos = 0
	}
	au := s.frames[s.pos]
	s.pos = (s.pos + 1) % len(s.frames)
	return au, nil
}

func (s *loopSource) close() {}

// appendNALs appends the NAL units of an Annex B access unit that a viewer needs (parameter
// sets and slices; the encoder's own SEI and delimiters are dropped).
func appendNALs(dst [][]byte, annexB []byte) [][]byte {
	for nal := range media.SplitAnnexB(annexB) {
		if len(nal) == 0 {
			continue
		}
		switch nal[0] & nalTypeMsk {
		case media.H264NALSlice, 2, 3, 4, media.H264NALIDR, media.H264NALSPS, media.H264NALPPS:
			dst = append(dst, nal)
		}
	}
	return dst
}

// packetizer stamps an access unit with a capture-time SEI and cuts it into RTP payloads
// (media.H264Packetizer), reusing its buffers: each payload is valid only until the next
// emit (the track copies it when writing).
type packetizer struct {
	sei  []byte
	nals [][]byte
	h264 media.H264Packetizer
}

// packetize emits the payloads of au, the capture-time SEI first, the last with marker.
// Parameter sets and SEI in front of the slices are aggregated: a keyframe's SEI travels in
// one STAP-A with the SPS and PPS, so a server that starts a viewer at the keyframe's first
// packet (one holding an SPS) forwards the stamp too.
func (p *packetizer) packetize(au accessUnit, captured time.Time, emit func(payload []byte, marker bool)) {
	p.sei = media.AppendCaptureSEI(p.sei[:0], captured)
	p.nals = append(append(p.nals[:0], p.sei), au.nals...)
	p.h264.MaxPayload, p.h264.Aggregate = maxPayload, true
	_ = p.h264.Packetize(p.nals, func(payload []byte, marker bool) error { // emit never fails
		emit(payload, marker)
		return nil
	})
}
