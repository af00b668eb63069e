package sfu

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// TestSRTPKeysMatchDTLSExporter: what srtpKeys learns from the server's hooks exports the
// same keying material as the DTLS connection itself, for each SRTP profile and with and
// without the extended master secret; and a packet encrypted with its local context is
// decrypted by a context keyed as the client's remote side.
func TestSRTPKeysMatchDTLSExporter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile dtls.SRTPProtectionProfile
		ems     dtls.ExtendedMasterSecretType
	}{
		{"aes128gcm", dtls.SRTP_AEAD_AES_128_GCM, dtls.RequireExtendedMasterSecret},
		{"aes256gcm", dtls.SRTP_AEAD_AES_256_GCM, dtls.RequestExtendedMasterSecret},
		{"aes128cm-sha1-80, no ems", dtls.SRTP_AES128_CM_HMAC_SHA1_80, dtls.DisableExtendedMasterSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys srtpKeys
			server, client := dtlsPair(t, &keys, tc.profile, tc.ems)
			state, ok := server.ConnectionState()
			if !ok {
				t.Fatal("server has no connection state")
			}
			want, err := state.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 60)
			if err != nil {
				t.Fatal(err)
			}
			got, err := keys.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 60)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("exported %x (%v), the DTLS connection %x", got, err, want)
			}
			checkClientDecrypts(t, &keys, client)
		})
	}
}

// checkClientDecrypts encrypts packets with keys' local sealer, as the egress does, and
// decrypts them as the DTLS client's SRTP receiver would.
func checkClientDecrypts(t *testing.T, keys *srtpKeys, client *dtls.Conn) {
	t.Helper()
	local, err := keys.localSealer()
	if err != nil {
		t.Fatal(err)
	}
	state, _ := client.ConnectionState()
	selected, _ := client.SelectedSRTPProtectionProfile()
	profile, err := srtpProfile(selected)
	if err != nil {
		t.Fatal(err)
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		t.Fatal(err)
	}
	remote, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, profile)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint16(65530); seq != 6; seq++ { // across the wrap of the sequence number
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 42}, Payload: []byte("glint egress")}
		plain, _ := pkt.Marshal()
		buf := make([]byte, 1500)
		headerLen := copy(buf, plain[:pkt.Header.MarshalSize()])
		enc, err := local.seal(buf, headerLen, pkt.Payload, &pkt.Header)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := remote.DecryptRTP(nil, enc, nil)
		if err != nil || !bytes.Equal(dec, plain) {
			t.Fatalf("seq %d: the client decrypted %x (%v), want %x", seq, dec, err, plain)
		}
	}
}

// dtlsPair runs a DTLS handshake over loopback UDP with keys' hooks on the server.
func dtlsPair(t *testing.T, keys *srtpKeys, profile dtls.SRTPProtectionProfile, ems dtls.ExtendedMasterSecretType) (*dtls.Conn, *dtls.Conn) {
	t.Helper()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	sconn, cconn := listenLoopback(t), listenLoopback(t)
	t.Cleanup(func() { _ = sconn.Close(); _ = cconn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		c   *dtls.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := dtls.ServerWithOptions(sconn, cconn.LocalAddr(), dtls.WithCertificates(cert),
			dtls.WithSRTPProtectionProfiles(profile), dtls.WithExtendedMasterSecret(ems),
			dtls.WithInsecureSkipVerify(true), dtls.WithServerHelloMessageHook(keys.serverHello), dtls.WithKeyLogWriter(keys))
		if err == nil {
			err = c.HandshakeContext(ctx)
		}
		done <- result{c, err}
	}()
	client, err := dtls.ClientWithOptions(cconn, sconn.LocalAddr(), dtls.WithCertificates(cert),
		dtls.WithSRTPProtectionProfiles(profile), dtls.WithExtendedMasterSecret(ems), dtls.WithInsecureSkipVerify(true))
	if err == nil {
		err = client.HandshakeContext(ctx)
	}
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("server handshake: %v", r.err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = r.c.Close() })
	return r.c, client
}
