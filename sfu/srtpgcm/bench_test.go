package srtpgcm

import (
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// BenchmarkSeal compares sealing a 1,200-byte video packet (a one-byte header extension
// as the egress writes: the transport-wide sequence) in place, as the egress does, with
// this package and with pion's Context.
func BenchmarkSeal(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	key, salt := masterKeys(rng, 16)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 7, Timestamp: 1, Extension: true, ExtensionProfile: rtp.ExtensionProfileOneByte}
	_ = h.SetExtension(3, []byte{0, 1})
	var buf [1500]byte
	build := func(seq uint16) (n, headerLen int) {
		h.SequenceNumber = seq
		headerLen, _ = h.MarshalTo(buf[:])
		return headerLen + 1200, headerLen
	}
	b.Run("srtpgcm", func(b *testing.B) {
		s, err := New(key, salt)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(1200)
		for i := 0; b.Loop(); i++ {
			n, headerLen := build(uint16(i))
			if _, err := s.Seal(buf[:], n, headerLen, h.SSRC, h.SequenceNumber); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pion", func(b *testing.B) {
		ctx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
		if err != nil {
			b.Fatal(err)
		}
		var parsed rtp.Header
		b.SetBytes(1200)
		for i := 0; b.Loop(); i++ {
			n, _ := build(uint16(i))
			if _, err := ctx.EncryptRTP(buf[:0], buf[:n], &parsed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
