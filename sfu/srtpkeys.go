package sfu

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// srtpKeys learns a viewer connection's SRTP keys from its DTLS handshake, so that the
// SFU's own egress (sfu/egress.go) can encrypt the viewer's packets itself: pion keeps its
// SRTP session, and the DTLS connection it was keyed from, to itself. The SFU answers as
// the DTLS server (a=setup:passive, what WebRTC offers of actpass allow), and two of pion's
// DTLS hooks hand it what RFC 5764's key derivation needs:
//   - the ServerHello it sends: the server random, the cipher suite (its PRF hash) and the
//     SRTP protection profile chosen;
//   - the key log line of the handshake: the client random and the master secret.
//
// keyingMaterial is then what dtls.State.ExportKeyingMaterial computes for
// "EXTRACTOR-dtls_srtp", and the local (server) write key and salt make an srtp.Context.
// The secret never leaves the process: the key log "writer" is this struct, which parses
// the line and keeps the bytes. A connection where the SFU ended up the DTLS client (a
// peer that offered a=setup:passive) reveals no server random: it has no keys here, and
// its packets go through pion's SRTP session as before.
type srtpKeys struct {
	mu           sync.Mutex
	serverRandom []byte
	suite        dtls.CipherSuiteID
	profile      dtls.SRTPProtectionProfile
	clientRandom []byte
	masterSecret []byte
}

// applyTo sets the connection's DTLS role and hooks on se.
func (k *srtpKeys) applyTo(se *webrtc.SettingEngine) {
	_ = se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer) // a valid role: never an error
	se.SetDTLSServerHelloMessageHook(k.serverHello)
	se.SetDTLSKeyLogWriter(k)
}

// serverHello records the ServerHello's random, cipher suite and SRTP profile and sends it
// unchanged.
func (k *srtpKeys) serverHello(m handshake.MessageServerHello) handshake.Message {
	random := m.Random.MarshalFixed()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.serverRandom = random[:]
	if m.CipherSuiteID != nil {
		k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, ext := range m.Extensions {
		if u, ok := ext.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			k.profile = dtls.SRTPProtectionProfile(u.ProtectionProfiles[0])
		}
	}
	return &m
}

// Write takes the handshake's key log line, "CLIENT_RANDOM <client random> <master secret>"
// in hex (what dtls.WithKeyLogWriter writes).
func (k *srtpKeys) Write(line []byte) (int, error) {
	fields := strings.Fields(string(bytes.TrimSpace(line)))
	if len(fields) != 3 || fields[0] != "CLIENT_RANDOM" {
		return len(line), nil // another label: not for DTLS 1.2 SRTP keys
	}
	clientRandom, err1 := hex.DecodeString(fields[1])
	secret, err2 := hex.DecodeString(fields[2])
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("dtls key log line: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.clientRandom, k.masterSecret = clientRandom, secret
	return len(line), nil
}

// ExportKeyingMaterial implements srtp.KeyingMaterialExporter as the DTLS server's
// dtls.State does: the TLS 1.2 PRF of the master secret over label, client random and
// server random, with the cipher suite's hash.
func (k *srtpKeys) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("srtp keys: exporter context not supported")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.serverRandom) == 0 || len(k.clientRandom) == 0 || len(k.masterSecret) == 0 {
		return nil, errors.New("srtp keys: no DTLS server handshake seen")
	}
	seed := append(append([]byte(label), k.clientRandom...), k.serverRandom...)
	return prf.PHash(k.masterSecret, seed, length, prfHash(k.suite))
}

// prfHash is the TLS 1.2 PRF hash of a cipher suite: SHA-384 for the _SHA384 suites,
// SHA-256 for every other (RFC 5246 section 5; RFC 5289).
func prfHash(suite dtls.CipherSuiteID) prf.HashFunc {
	if strings.HasSuffix(dtls.CipherSuiteName(suite), "SHA384") {
		return sha512.New384
	}
	return sha256.New
}

// localSealer makes what encrypts the RTP the SFU (the DTLS server) sends.
func (k *srtpKeys) localSealer() (packetSealer, error) {
	k.mu.Lock()
	dp := k.profile
	k.mu.Unlock()
	profile, err := srtpProfile(dp)
	if err != nil {
		return nil, err
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(k, false); err != nil {
		return nil, fmt.Errorf("srtp keys: %w", err)
	}
	return newPacketSealer(profile, cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt)
}

// srtpProfile maps the DTLS-negotiated profile to srtp's, as pion's DTLSTransport does.
func srtpProfile(p dtls.SRTPProtectionProfile) (srtp.ProtectionProfile, error) {
	switch p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	case dtls.SRTP_AEAD_AES_256_GCM:
		return srtp.ProtectionProfileAeadAes256Gcm, nil
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	default:
		return 0, fmt.Errorf("srtp keys: protection profile %#04x not supported", uint16(p))
	}
}
