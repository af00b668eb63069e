package srtpgcm

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// profiles are the two GCM profiles with their master key lengths.
var profiles = []struct {
	name    string
	profile srtp.ProtectionProfile
	keyLen  int
}{
	{"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm, 16},
	{"AEAD_AES_256_GCM", srtp.ProtectionProfileAeadAes256Gcm, 32},
}

func masterKeys(rng *rand.Rand, keyLen int) (key, salt []byte) {
	key, salt = make([]byte, keyLen), make([]byte, saltSize)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	for i := range salt {
		salt[i] = byte(rng.Uint32())
	}
	return key, salt
}

// randomPacket marshals a packet of ssrc/seq with a random mix of CSRCs, header extensions,
// marker and payload size into buf[:n]; headerLen is its header's length.
func randomPacket(rng *rand.Rand, buf []byte, ssrc uint32, seq uint16) (n, headerLen int) {
	h := rtp.Header{Version: 2, PayloadType: uint8(96 + rng.IntN(30)), SequenceNumber: seq,
		Timestamp: rng.Uint32(), SSRC: ssrc, Marker: rng.IntN(4) == 0}
	if rng.IntN(4) == 0 {
		h.CSRC = []uint32{rng.Uint32(), rng.Uint32()}
	}
	if rng.IntN(2) == 0 {
		h.Extension, h.ExtensionProfile = true, rtp.ExtensionProfileOneByte
		_ = h.SetExtension(uint8(1+rng.IntN(14)), []byte{byte(rng.Uint32()), byte(rng.Uint32()), 3})
	}
	headerLen, err := h.MarshalTo(buf)
	if err != nil {
		panic(err)
	}
	payload := 1 + rng.IntN(1200)
	for i := range payload {
		buf[headerLen+i] = byte(rng.Uint32())
	}
	return headerLen + payload, headerLen
}

// sequences gives the SSRCs' packets in the order a sender might: in order across the
// 16-bit wrap, with retransmissions of older packets (some from before the wrap), and
// several SSRCs interleaved.
func sequences(rng *rand.Rand) (ssrcs []uint32, seqs []uint16) {
	next := map[uint32]uint16{}
	starts := []uint16{65500, 1, 32760, 65535}
	for i, start := range starts {
		next[uint32(1000+i)] = start
	}
	for range 4000 {
		ssrc := uint32(1000 + rng.IntN(len(starts)))
		seq := next[ssrc]
		if rng.IntN(10) == 0 {
			seq -= uint16(1 + rng.IntN(300)) // a retransmission
		} else {
			next[ssrc]++
		}
		ssrcs, seqs = append(ssrcs, ssrc), append(seqs, seq)
	}
	return ssrcs, seqs
}

// TestSealMatchesPion seals the same packets with a Sealer and with pion's srtp.Context
// from the same master key and salt, and wants every byte equal, then checks that pion
// decrypts what the Sealer made back to the original packet. A second Sealer seals each
// packet from its payload elsewhere (SealPayload) and must make the same bytes.
func TestSealMatchesPion(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(p.keyLen), 7))
			key, salt := masterKeys(rng, p.keyLen)
			sealer, err := New(key, salt)
			if err != nil {
				t.Fatal(err)
			}
			fromPayload, err := New(key, salt)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := srtp.CreateContext(key, salt, p.profile)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := srtp.CreateContext(key, salt, p.profile, srtp.SRTPNoReplayProtection())
			if err != nil {
				t.Fatal(err)
			}
			ssrcs, seqs := sequences(rng)
			var buf, out [1500]byte
			for i := range seqs {
				n, headerLen := randomPacket(rng, buf[:], ssrcs[i], seqs[i])
				plain := append([]byte(nil), buf[:n]...)
				copy(out[:], plain[:headerLen])
				k, err := fromPayload.SealPayload(out[:], headerLen, plain[headerLen:], ssrcs[i], seqs[i])
				if err != nil {
					t.Fatal(err)
				}
				want, err := enc.EncryptRTP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				m, err := sealer.Seal(buf[:], n, headerLen, ssrcs[i], seqs[i])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:m], want) {
					t.Fatalf("packet %d (ssrc %d seq %d): sealed bytes differ from pion's", i, ssrcs[i], seqs[i])
				}
				if !bytes.Equal(out[:k], want) {
					t.Fatalf("packet %d (ssrc %d seq %d): sealed from the payload, bytes differ from pion's", i, ssrcs[i], seqs[i])
				}
				got, err := dec.DecryptRTP(nil, buf[:m], nil)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("packet %d: pion decrypts it to something else (err %v)", i, err)
				}
			}
		})
	}
}

func TestSealRefusesWhatItCannotSeal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key, salt := masterKeys(rng, 16)
	sealer, err := New(key, salt)
	if err != nil {
		t.Fatal(err)
	}
	var buf [1500]byte
	n, headerLen := randomPacket(rng, buf[:], 1, 1)
	if _, err := sealer.Seal(buf[:n+TagSize-1], n, headerLen, 1, 1); !errors.Is(err, ErrNoRoom) {
		t.Errorf("no room for the tag: err %v, want ErrNoRoom", err)
	}
	if _, err := sealer.SealPayload(buf[:n+TagSize-1], headerLen, buf[headerLen:n], 1, 1); !errors.Is(err, ErrNoRoom) {
		t.Errorf("SealPayload, no room for the tag: err %v, want ErrNoRoom", err)
	}
	if _, err := sealer.SealPayload(buf[:], 8, make([]byte, 100), 1, 1); err == nil {
		t.Error("SealPayload sealed a header shorter than 12 bytes")
	}
	if _, err := sealer.Seal(buf[:], n, 8, 1, 1); err == nil {
		t.Error("a header shorter than 12 bytes was sealed")
	}
	if _, err := New(key[:15], salt); err == nil {
		t.Error("a 15-byte master key was taken")
	}
	if _, err := New(key, salt[:11]); err == nil {
		t.Error("an 11-byte master salt was taken")
	}
}

func TestRolloverRefusesAnExhaustedIndex(t *testing.T) {
	s := &Sealer{streams: []stream{{ssrc: 5, index: 1<<48 - 1}}}
	if _, err := s.rollover(5, 0); !errors.Is(err, ErrExhausted) {
		t.Errorf("after the last index: err %v, want ErrExhausted", err)
	}
	if roc, err := s.rollover(5, 65534); err != nil || roc != 1<<32-1 {
		t.Errorf("a retransmission before the last index: roc %d err %v", roc, err)
	}
}
