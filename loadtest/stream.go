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

// H.264 NAL header and FU-A header bits the load generator writes or looks for (the NAL
// unit types are media's).
const (
	nalTypeMsk = 0x1f
	fuStart    = 0x80
	fuEnd      = 0x40
)

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

// packetizer turns an access unit into RTP payloads, reusing its buffers: each payload is
// valid only until the next emit (the track copies it when writing).
type packetizer struct {
	sei, stap, fu []byte
}

// packetize emits the payloads of au, the capture-time SEI first, the last with marker.
// A keyframe's SEI travels in one STAP-A with the SPS and PPS: a server that starts a
// viewer at the keyframe's first packet (one holding an SPS) then forwards the stamp too.
func (p *packetizer) packetize(au accessUnit, captured time.Time, emit func(payload []byte, marker bool)) {
	p.sei = media.AppendCaptureSEI(p.sei[:0], captured)
	nals := au.nals
	if len(nals) >= 2 && nals[0][0]&nalTypeMsk == media.H264NALSPS && nals[1][0]&nalTypeMsk == media.H264NALPPS &&
		len(p.sei)+len(nals[0])+len(nals[1])+7 <= maxPayload {
		p.stap = append(p.stap[:0], media.H264NALSTAPA|nals[0][0]&0x60)
		for _, nal := range [][]byte{p.sei, nals[0], nals[1]} {
			p.stap = append(p.stap, byte(len(nal)>>8), byte(len(nal)))
			p.stap = append(p.stap, nal...)
		}
		emit(p.stap, len(nals) == 2)
		nals = nals[2:]
	} else {
		emit(p.sei, len(nals) == 0)
	}
	for i, nal := range nals {
		last := i == len(nals)-1
		if len(nal) <= maxPayload {
			emit(nal, last)
			continue
		}
		body := nal[1:]
		for off := 0; off < len(body); {
			n := min(maxPayload-2, len(body)-off)
			p.fu = append(p.fu[:0], nal[0]&0xe0|media.H264NALFUA, nal[0]&nalTypeMsk)
			if off == 0 {
				p.fu[1] |= fuStart
			}
			if off+n == len(body) {
				p.fu[1] |= fuEnd
			}
			p.fu = append(p.fu, body[off:off+n]...)
			off += n
			emit(p.fu, last && off == len(body))
		}
	}
}
