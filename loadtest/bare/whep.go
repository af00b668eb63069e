package bare

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"
)

// postOffer POSTs the offer and returns the answer and the session's absolute URL.
func postOffer(ctx context.Context, hc *http.Client, whepURL, token, offer string) (answer, location string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, whepURL, strings.NewReader(offer))
	if err != nil {
		return "", "", fmt.Errorf("whep: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("whep: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", fmt.Errorf("whep: reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("whep: POST %s: server answered %d: %s", whepURL, resp.StatusCode, firstLine(string(bytes.TrimSpace(body))))
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", "", fmt.Errorf("whep: POST %s: answer without Location", whepURL)
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return "", "", fmt.Errorf("whep: bad Location %q: %w", loc, err)
	}
	return string(body), resp.Request.URL.ResolveReference(ref).String(), nil
}

// deleteSession ends the session on the server; a session already gone is not an error.
func deleteSession(ctx context.Context, hc *http.Client, location, token string) error {
	if location == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return fmt.Errorf("whep: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("whep: DELETE: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("whep: DELETE %s: server answered %d", location, resp.StatusCode)
	}
	return nil
}

// pickCandidate is the answer's best candidate (loopback ones only when asked).
func pickCandidate(a *answer, loopbackOnly bool) (netip.AddrPort, error) {
	for _, c := range a.candidates {
		if loopbackOnly && !c.Addr().IsLoopback() || !c.Addr().Is4() {
			continue
		}
		return c, nil
	}
	return netip.AddrPort{}, errors.New("whep: answer has no usable UDP candidate (IPv4; loopback only when asked)")
}

// handshake runs DTLS in the role the answer gave, checks the server's certificate
// against the answer's fingerprint and hands the receive loop the SRTP contexts.
func (v *Viewer) handshake(ctx context.Context, q *dtlsQueue, remote net.Addr, ans *answer, id *Identity) error {
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no certificate")
		}
		if sum := sha256.Sum256(raw[0]); !bytes.Equal(sum[:], ans.fingerprint) {
			return errors.New("certificate does not match the answer's fingerprint")
		}
		return nil
	}
	shared := []dtls.Option{
		dtls.WithCertificates(id.cert),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true), // self-signed: the fingerprint is the check
		dtls.WithVerifyPeerCertificate(verify),
	}
	var conn *dtls.Conn
	var err error
	if ans.dtlsClient {
		opts := make([]dtls.ClientOption, 0, len(shared))
		for _, o := range shared {
			opts = append(opts, o)
		}
		conn, err = dtls.ClientWithOptions(q, remote, opts...)
	} else {
		opts := make([]dtls.ServerOption, 0, len(shared)+1)
		for _, o := range shared {
			opts = append(opts, o)
		}
		opts = append(opts, dtls.WithClientAuth(dtls.RequireAnyClientCert))
		conn, err = dtls.ServerWithOptions(q, remote, opts...)
	}
	if err != nil {
		return fmt.Errorf("whep: dtls: %w", err)
	}
	v.dtls = conn
	if err := conn.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("whep: dtls handshake: %w", err)
	}
	keys, err := newSRTPKeys(conn, ans.dtlsClient, v.opts.ReceiverReports > 0)
	if err != nil {
		return err
	}
	v.rx.ready <- keys
	return nil
}

// srtpKeys are the SRTP contexts of a session: decrypt (the server's keys) for its SRTP and
// SRTCP, encrypt (the viewer's own) for the receiver reports, nil when it sends none.
// Each is used by the receive loop only, once it has taken them from receiver.ready.
type srtpKeys struct {
	decrypt, encrypt *srtp.Context
	trailer          int // bytes of authentication tag after each SRTP payload
}

// newSRTPKeys derives the session's SRTP keys from the DTLS session (RFC 5764) and makes
// the decryption context, and the encryption context when encrypt is set. Replay
// protection of SRTP is off: the viewer decrypts a few packets only, and duplicates are
// its caller's to count.
func newSRTPKeys(conn *dtls.Conn, isClient, encrypt bool) (*srtpKeys, error) {
	cfg, err := sessionKeys(conn, isClient)
	if err != nil {
		return nil, err
	}
	k := &srtpKeys{}
	if k.decrypt, err = srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile, srtp.SRTPNoReplayProtection()); err != nil {
		return nil, fmt.Errorf("whep: srtp: %w", err)
	}
	if encrypt {
		if k.encrypt, err = srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile); err != nil {
			return nil, fmt.Errorf("whep: srtcp: %w", err)
		}
	}
	tag, err := cfg.Profile.AuthTagRTPLen()
	if err != nil {
		return nil, fmt.Errorf("whep: srtp: %w", err)
	}
	aead, err := cfg.Profile.AEADAuthTagLen()
	if err != nil {
		return nil, fmt.Errorf("whep: srtp: %w", err)
	}
	k.trailer = tag + aead
	return k, nil
}

// sessionKeys exports the SRTP master keys and salts of both sides from the DTLS session,
// with the profile it negotiated.
func sessionKeys(conn *dtls.Conn, isClient bool) (*srtp.Config, error) {
	profile, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, errors.New("whep: dtls: no SRTP protection profile negotiated")
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return nil, errors.New("whep: dtls: no connection state")
	}
	cfg := &srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClient); err != nil {
		return nil, fmt.Errorf("whep: srtp keys: %w", err)
	}
	return cfg, nil
}

// drainDTLS reads the DTLS connection until it closes, so that a retransmitted flight or
// an alert is handled; the server closing it ends the session.
func (v *Viewer) drainDTLS() {
	buf := make([]byte, maxPacket)
	for {
		if _, err := v.dtls.Read(buf); err != nil {
			v.end(fmt.Errorf("whep: dtls closed: %w", err))
			return
		}
	}
}
