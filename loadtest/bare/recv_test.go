package bare

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

const (
	testVideoPT = 102
	testAudioPT = 111
)

// testStream is a sender's side: it encrypts a synthetic stream of frames (framePackets
// video packets each, the first carrying the frame number) interleaved with audio.
type testStream struct {
	enc               *srtp.Context
	videoSeq, audioSq uint16
	frame             uint32
}

// newTestPair makes a sender and a receiver sharing keys of profile.
func newTestPair(t testing.TB, profile srtp.ProtectionProfile, onPacket func(*Packet)) (*testStream, *receiver) {
	t.Helper()
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	key, salt := bytes.Repeat([]byte{7}, keyLen), bytes.Repeat([]byte{9}, saltLen)
	enc, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(key, salt, profile, srtp.SRTPNoReplayProtection())
	if err != nil {
		t.Fatal(err)
	}
	var kinds [128]Kind
	kinds[testVideoPT], kinds[testAudioPT] = Video, Audio
	r := newReceiver(kinds, nil, nil, onPacket)
	tag, _ := profile.AuthTagRTPLen()
	aead, _ := profile.AEADAuthTagLen()
	r.srtp, r.trailer = dec, tag+aead
	return &testStream{enc: enc, videoSeq: 65000, audioSq: 100}, r
}

// nextFrame returns the SRTP packets of the next frame: framePackets video packets of
// 1000 bytes (the first starting with "frame N"), then one audio packet.
func (s *testStream) nextFrame(t testing.TB, framePackets int) [][]byte {
	t.Helper()
	var out [][]byte
	payload := make([]byte, 1000)
	for i := range framePackets {
		clear(payload)
		if i == 0 {
			copy(payload, fmt.Sprintf("frame %d", s.frame))
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testVideoPT, SequenceNumber: s.videoSeq,
			Timestamp: s.frame * 3000, SSRC: 1, Marker: i == framePackets-1}, Payload: payload}
		out = append(out, s.encrypt(t, &p))
		s.videoSeq++
	}
	audio := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testAudioPT, SequenceNumber: s.audioSq,
		Timestamp: s.frame * 960, SSRC: 2}, Payload: make([]byte, 120)}
	out = append(out, s.encrypt(t, &audio))
	s.audioSq++
	s.frame++
	return out
}

func (s *testStream) encrypt(t testing.TB, p *rtp.Packet) []byte {
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.enc.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecryptFrameStartsAcrossRollover feeds 7,000 frames of 10 packets (70,000 video
// sequence numbers: a rollover of the 16-bit sequence number) through the receive path:
// only each frame's first packet is decrypted, and every one of them decrypts to what was
// sent, with the rollover counter guessed right although nine packets in ten are skipped.
func TestDecryptFrameStartsAcrossRollover(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.ProtectionProfileAeadAes128Gcm} {
		t.Run(fmt.Sprint(profile), func(t *testing.T) {
			var video, audio, decrypted int
			var wantFrame uint32
			var bad string
			s, r := newTestPair(t, profile, func(p *Packet) {
				if p.Kind == Audio {
					audio++
					return
				}
				video++
				if p.Payload == nil {
					return
				}
				decrypted++
				if want := fmt.Sprintf("frame %d", wantFrame); !bytes.HasPrefix(p.Payload, []byte(want)) && bad == "" {
					bad = fmt.Sprintf("decrypted %q, want %q", p.Payload[:12], want)
				}
				if p.Size != 12+1000 {
					bad = fmt.Sprintf("size %d, want %d", p.Size, 12+1000)
				}
				wantFrame++
			})
			const frames, per = 7000, 10
			for range frames {
				for _, b := range s.nextFrame(t, per) {
					r.handle(b, 1)
				}
			}
			if bad != "" || r.decryptFailure.Load() != 0 {
				t.Fatalf("%s; %d decryption failures", bad, r.decryptFailure.Load())
			}
			if video != frames*per || audio != frames || decrypted != frames {
				t.Errorf("%d video packets, %d audio, %d decrypted; want %d, %d, %d", video, audio, decrypted, frames*per, frames, frames)
			}
		})
	}
}

// TestFrameStarts checks which packets the receive path decrypts, reordering included.
func TestFrameStarts(t *testing.T) {
	type pkt struct {
		seq    uint16
		ts     uint32
		marker bool
		want   bool
	}
	tests := []struct {
		name string
		pkts []pkt
	}{
		{"in order", []pkt{{10, 0, false, true}, {11, 0, true, false}, {12, 3000, false, true}, {13, 3000, true, false}}},
		{"first two swapped", []pkt{{10, 0, false, true}, {11, 0, true, false}, {13, 3000, false, true}, {12, 3000, false, true}, {14, 3000, true, false}}},
		{"late packet of an old frame", []pkt{{10, 0, false, true}, {12, 3000, false, true}, {11, 0, true, false}, {13, 3000, true, false}}},
		{"timestamp wrap", []pkt{{10, 0xffffff00, false, true}, {11, 0xffffff00, true, false}, {12, 100, false, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f frameStarts
			for i, p := range tt.pkts {
				if got := f.first(p.seq, p.ts, p.marker); got != p.want {
					t.Errorf("packet %d (seq %d): first = %v, want %v", i, p.seq, got, p.want)
				}
			}
		})
	}
}

// ringOfFrames encrypts frames of a stream once, for the benchmark and the allocation test.
func ringOfFrames(t testing.TB, s *testStream, frames, per int) [][]byte {
	var ring [][]byte
	for range frames {
		ring = append(ring, s.nextFrame(t, per)...)
	}
	return ring
}

// TestReceivePathAllocatesNothing: a packet through the receive path (classify, parse,
// decrypt a frame's first packet, hand to OnPacket) allocates nothing.
func TestReceivePathAllocatesNothing(t *testing.T) {
	var n int
	s, r := newTestPair(t, srtp.ProtectionProfileAeadAes128Gcm, func(*Packet) { n++ })
	ring := ringOfFrames(t, s, 30, 10)
	r.handle(ring[0], 1) // the SSRC's state is made once
	i := 1
	allocs := testing.AllocsPerRun(len(ring)*3, func() {
		if i == len(ring) {
			i, r.frames = 0, frameStarts{} // replaying: frames start over
		}
		r.handle(ring[i], 1)
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
	if n == 0 {
		t.Fatal("no packets reached OnPacket")
	}
}

// BenchmarkReceivePath measures one packet through the receive path: a 30 fps stream of
// 10-packet frames plus audio (about what 2.5 Mbit/s makes), every frame's first packet
// decrypted.
func BenchmarkReceivePath(b *testing.B) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.ProtectionProfileAeadAes128Gcm} {
		b.Run(fmt.Sprint(profile), func(b *testing.B) {
			var bytesIn int
			s, r := newTestPair(b, profile, func(p *Packet) { bytesIn += p.Size })
			ring := ringOfFrames(b, s, 300, 10)
			b.ReportAllocs()
			b.SetBytes(int64(len(ring[0])))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i == len(ring) {
					i, r.frames = 0, frameStarts{}
				}
				r.handle(ring[i], 1)
			}
		})
	}
}
