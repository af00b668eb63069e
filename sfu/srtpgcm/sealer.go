// Package srtpgcm protects the SFU's outgoing RTP with the AEAD AES-GCM profiles of SRTP
// (RFC 7714: AEAD_AES_128_GCM and AEAD_AES_256_GCM, no MKI, no header-extension
// encryption), in place in the caller's buffer.
//
// It does what the egress needs of pion's srtp.Context and nothing else: the egress has
// just marshalled the header, so it knows the header's length, SSRC and sequence number and
// the packet need not be parsed again; the rollover counter of each SSRC is kept in a short
// slice (a connection sends a handful of SSRCs) rather than a map of per-stream states with
// replay detectors; and nothing is allocated. What is left per packet is the AES-GCM seal
// itself. The output is byte for byte what pion's Context produces from the same keys
// (sealer_test.go), so a viewer cannot tell which sealed a packet. SRTCP, decryption and
// the AES-CM profiles stay with pion.
package srtpgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// TagSize is what Seal appends to a packet: the GCM authentication tag.
const TagSize = 16

// saltSize is the master and session salt length of both GCM profiles (RFC 7714 §12).
const saltSize = 12

var (
	// ErrNoRoom is returned when the buffer cannot hold the packet and its tag.
	ErrNoRoom = errors.New("srtpgcm: no room for the authentication tag")
	// ErrExhausted is returned when an SSRC has used every packet index (2^48) of the key.
	ErrExhausted = errors.New("srtpgcm: packet index exhausted for this key")
)

// Sealer encrypts one SRTP session's outgoing RTP. It is not safe for concurrent use: the
// egress seals one packet at a time under its own lock.
type Sealer struct {
	aead    cipher.AEAD
	salt    [saltSize]byte
	iv      [saltSize]byte // the packet's IV: here, not on the stack, which Seal would move to the heap
	streams []stream
}

// stream is one SSRC's sending state: the packet index (rollover counter << 16 | sequence
// number) of the highest packet sealed so far.
type stream struct {
	ssrc  uint32
	index uint64
}

// New derives the session's SRTP encryption key and salt from the master key (16 bytes for
// AEAD_AES_128_GCM, 32 for AEAD_AES_256_GCM) and the 12-byte master salt, as RFC 3711
// §4.3.1 with a key derivation rate of 0 (RFC 7714 §11), and returns a Sealer using them.
func New(masterKey, masterSalt []byte) (*Sealer, error) {
	if len(masterKey) != 16 && len(masterKey) != 32 {
		return nil, fmt.Errorf("srtpgcm: master key of %d bytes, want 16 or 32", len(masterKey))
	}
	if len(masterSalt) != saltSize {
		return nil, fmt.Errorf("srtpgcm: master salt of %d bytes, want %d", len(masterSalt), saltSize)
	}
	master, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("srtpgcm: master key: %w", err)
	}
	sessionKey := deriveKey(master, labelRTPEncryption, masterSalt, len(masterKey))
	block, err := aes.NewCipher(sessionKey)
	if err != nil {
		return nil, fmt.Errorf("srtpgcm: session key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("srtpgcm: GCM: %w", err)
	}
	s := &Sealer{aead: aead}
	copy(s.salt[:], deriveKey(master, labelRTPSalt, masterSalt, saltSize))
	return s, nil
}

// Key derivation labels of RFC 3711 §4.3.2 used here.
const (
	labelRTPEncryption = 0x00
	labelRTPSalt       = 0x02
)

// deriveKey is the AES-CM key derivation function of RFC 3711 §4.3.1 and §4.3.3 with
// r = index DIV kdr = 0: the first n bytes of the AES counter-mode key stream under the
// master key, its IV the master salt (padded to 16 bytes) with the label XORed into byte 7.
func deriveKey(master cipher.Block, label byte, masterSalt []byte, n int) []byte {
	var in [aes.BlockSize]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	for i := 0; i*aes.BlockSize < n; i++ {
		binary.BigEndian.PutUint16(in[14:], uint16(i))
		master.Encrypt(out[i*aes.BlockSize:], in[:])
	}
	return out[:n]
}

// Seal encrypts the RTP packet in buf[:n], whose header (fixed part, CSRCs and extension)
// is buf[:headerLen] and whose SSRC and sequence number are ssrc and seq, in place: the
// payload is encrypted, the header authenticated, and the tag written after the payload.
// It returns the SRTP packet's length, n + TagSize; buf must have room for it.
func (s *Sealer) Seal(buf []byte, n, headerLen int, ssrc uint32, seq uint16) (int, error) {
	if n+TagSize > len(buf) {
		return 0, ErrNoRoom
	}
	if headerLen < 12 || headerLen > n {
		return 0, fmt.Errorf("srtpgcm: header of %d bytes in a packet of %d", headerLen, n)
	}
	return s.SealPayload(buf, headerLen, buf[headerLen:n], ssrc, seq)
}

// SealPayload is Seal for a packet whose payload is not yet after its header: it encrypts
// payload into buf after the header buf[:headerLen] and writes the tag after it, so the
// payload is read once, by the cipher, rather than copied into buf first. payload is either
// buf[headerLen:headerLen+len(payload)] itself or shares no memory with buf. It returns
// the SRTP packet's length, headerLen + len(payload) + TagSize; buf must have room for it.
func (s *Sealer) SealPayload(buf []byte, headerLen int, payload []byte, ssrc uint32, seq uint16) (int, error) {
	n := headerLen + len(payload)
	if n+TagSize > len(buf) {
		return 0, ErrNoRoom
	}
	if headerLen < 12 {
		return 0, fmt.Errorf("srtpgcm: header of %d bytes", headerLen)
	}
	roc, err := s.rollover(ssrc, seq)
	if err != nil {
		return 0, err
	}
	// The IV (RFC 7714 §8.1): 00 00 || SSRC || ROC || SEQ, XORed with the session salt.
	iv := &s.iv
	*iv = [saltSize]byte{}
	binary.BigEndian.PutUint32(iv[2:], ssrc)
	binary.BigEndian.PutUint32(iv[6:], roc)
	binary.BigEndian.PutUint16(iv[10:], seq)
	for i := range iv {
		iv[i] ^= s.salt[i]
	}
	s.aead.Seal(buf[headerLen:headerLen], iv[:], payload, buf[:headerLen])
	return n + TagSize, nil
}

// rollover returns the rollover counter of the packet ssrc/seq and records it as that
// SSRC's highest when it is: RFC 3711 §3.3.1 and Appendix A, as pion's Context estimates
// it (so a retransmission of a packet from before a wrap keeps its old counter). The first
// packet of an SSRC starts its counter at 0.
func (s *Sealer) rollover(ssrc uint32, seq uint16) (uint32, error) {
	st := s.find(ssrc)
	if st == nil {
		s.streams = append(s.streams, stream{ssrc: ssrc, index: uint64(seq)})
		return 0, nil
	}
	const median = 1 << 15
	localROC, localSeq := uint32(st.index>>16), int64(st.index&0xffff)
	roc, diff := localROC, int64(seq)-localSeq
	if st.index > median {
		switch {
		case localSeq < median && int64(seq)-localSeq > median:
			roc, diff = localROC-1, int64(seq)-localSeq-1<<16
		case localSeq >= median && localSeq-median > int64(seq):
			if localROC == ^uint32(0) {
				return 0, ErrExhausted
			}
			roc, diff = localROC+1, int64(seq)-localSeq+1<<16
		}
	}
	if diff > 0 {
		st.index += uint64(diff)
	}
	return roc, nil
}

func (s *Sealer) find(ssrc uint32) *stream {
	for i := range s.streams {
		if s.streams[i].ssrc == ssrc {
			return &s.streams[i]
		}
	}
	return nil
}
