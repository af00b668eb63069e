package sfu

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/glint-video/glint/sfu/srtpgcm"
)

// packetSealer encrypts an RTP packet the egress has built in a send buffer: buf[:n], its
// header buf[:headerLen], parsed as h. It returns the SRTP packet: buf[:m] when it was
// sealed in place, or a slice of its own when buf had no room for the tag.
type packetSealer interface {
	seal(buf []byte, n, headerLen int, h *rtp.Header) ([]byte, error)
}

// newPacketSealer picks the sealer for a connection's negotiated profile: Glint's own for
// the GCM profiles (sfu/srtpgcm: no re-parse of the header, no map of stream states),
// pion's Context for AES-CM with HMAC-SHA1.
func newPacketSealer(profile srtp.ProtectionProfile, masterKey, masterSalt []byte) (packetSealer, error) {
	switch profile {
	case srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm:
		s, err := srtpgcm.New(masterKey, masterSalt)
		if err != nil {
			return nil, err
		}
		return gcmSealer{s}, nil
	default:
		ctx, err := srtp.CreateContext(masterKey, masterSalt, profile)
		if err != nil {
			return nil, fmt.Errorf("srtp context: %w", err)
		}
		return &pionSealer{ctx: ctx}, nil
	}
}

type gcmSealer struct{ s *srtpgcm.Sealer }

func (g gcmSealer) seal(buf []byte, n, headerLen int, h *rtp.Header) ([]byte, error) {
	m, err := g.s.Seal(buf, n, headerLen, h.SSRC, h.SequenceNumber)
	if errors.Is(err, srtpgcm.ErrNoRoom) { // rare: a packet within a tag of the buffer's end
		out := make([]byte, n+srtpgcm.TagSize)
		copy(out, buf[:n])
		m, err = g.s.Seal(out, n, headerLen, h.SSRC, h.SequenceNumber)
		return out[:m], err
	}
	return buf[:m], err
}

// pionSealer seals with pion's Context, which parses the header again into hdr.
type pionSealer struct {
	ctx *srtp.Context
	hdr rtp.Header
}

func (p *pionSealer) seal(buf []byte, n, _ int, _ *rtp.Header) ([]byte, error) {
	return p.ctx.EncryptRTP(buf[:0], buf[:n], &p.hdr)
}
