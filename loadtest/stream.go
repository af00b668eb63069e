package loadtest

import (
	"encoding/binary"
	"math/rand/v2"
)

// The synthetic stream is generated once and replayed: no encoder runs during a test.
// Every RTP payload ends with stampSize bytes that carry its send time (unix nanoseconds,
// big-endian), written just before the packet goes out. Glint never inspects them: it
// looks only at the first bytes of a video payload (keyframe detection).
const (
	stampSize       = 8
	maxPayload      = 1200 // bytes of RTP payload per packet, FU-A headers and stamp included
	keyframeWeight  = 10   // a keyframe is this many times the size of a delta frame
	audioPacketSize = 80   // ~32 kbit/s of Opus-sized payloads
	audioInterval   = 20   // milliseconds of audio per packet
)

// H.264 NAL unit headers (nal_ref_idc 3 except for non-IDR slices) and FU-A parts.
const (
	nalSPS      = 0x67
	nalPPS      = 0x68
	nalIDR      = 0x65
	nalSlice    = 0x41
	nalTypeFUA  = 28
	fuStart     = 0x80
	fuEnd       = 0x40
	nalTypeMask = 0x1f
)

// A 1280x720 Constrained Baseline (level 3.1) SPS and a matching PPS, without the NAL
// header byte, so a real depacketizer sees a plausible stream start.
var (
	spsBody = []byte{0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0f, 0x23, 0xc6, 0x0c, 0xa8}
	ppsBody = []byte{0xce, 0x3c, 0x80}
)

// frame is one access unit: the RTP payloads to send, the last with the marker bit.
type frame struct {
	payloads [][]byte
	keyframe bool
}

// syntheticVideo is one second of H.264 at fps frames: a keyframe then fps-1 deltas,
// sized so the second carries bitrateKbps kilobits.
type syntheticVideo struct {
	frames []frame
}

func newSyntheticVideo(bitrateKbps, fps int, rng *rand.Rand) *syntheticVideo {
	bytesPerSecond := bitrateKbps * 1000 / 8
	delta := bytesPerSecond / (fps - 1 + keyframeWeight)
	v := &syntheticVideo{frames: make([]frame, fps)}
	for i := range v.frames {
		if i == 0 {
			v.frames[i] = frame{keyframe: true, payloads: keyframePayloads(delta*keyframeWeight, rng)}
			continue
		}
		v.frames[i] = frame{payloads: fuaPayloads(nalSlice, delta, rng)}
	}
	return v
}

// keyframePayloads is an SPS packet, a PPS packet, then the IDR slice in FU-A fragments.
func keyframePayloads(size int, rng *rand.Rand) [][]byte {
	sps := append(append([]byte{nalSPS}, spsBody...), make([]byte, stampSize)...)
	pps := append(append([]byte{nalPPS}, ppsBody...), make([]byte, stampSize)...)
	return append([][]byte{sps, pps}, fuaPayloads(nalIDR, size, rng)...)
}

// fuaPayloads fragments a NAL unit of about size bytes (header byte nal) into FU-A
// payloads of at most maxPayload bytes each.
func fuaPayloads(nal byte, size int, rng *rand.Rand) [][]byte {
	const perPacket = maxPayload - 2 - stampSize // NAL bytes per fragment
	if size < 1 {
		size = 1
	}
	var out [][]byte
	for off := 0; off < size; off += perPacket {
		n := min(perPacket, size-off)
		p := make([]byte, 2+n+stampSize)
		p[0] = nal&0xe0 | nalTypeFUA // FU indicator: F and NRI of the NAL, type 28
		p[1] = nal & nalTypeMask     // FU header: S, E, type
		if off == 0 {
			p[1] |= fuStart
		}
		if off+n >= size {
			p[1] |= fuEnd
		}
		fillRandom(p[2:2+n], rng)
		out = append(out, p)
	}
	return out
}

// newAudioPayload is one Opus-sized payload (TOC byte of a 20 ms CELT frame, then noise).
func newAudioPayload(rng *rand.Rand) []byte {
	p := make([]byte, audioPacketSize)
	fillRandom(p, rng)
	p[0] = 0xfc
	return p
}

func fillRandom(b []byte, rng *rand.Rand) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// stamp writes the send time into the last stampSize bytes of payload.
func stamp(payload []byte, unixNanos int64) {
	binary.BigEndian.PutUint64(payload[len(payload)-stampSize:], uint64(unixNanos))
}

// stampOf reads the send time a payload carries (0 when it is too short).
func stampOf(payload []byte) int64 {
	if len(payload) < stampSize {
		return 0
	}
	return int64(binary.BigEndian.Uint64(payload[len(payload)-stampSize:]))
}
