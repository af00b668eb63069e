package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeSpeaksHTTP2 starts `glint serve` in-process, in cleartext and with TLS, and checks
// that the same endpoints answer over HTTP/1.1 and HTTP/2 (h2c with prior knowledge in
// cleartext, ALPN over TLS).
func TestServeSpeaksHTTP2(t *testing.T) {
	cert, key, pool := selfSignedCert(t)
	cases := []struct {
		name   string
		tls    bool
		client *http.Transport
		want   string
	}{
		{"cleartext HTTP/1.1", false, transport(func(p *http.Protocols) { p.SetHTTP1(true) }), "HTTP/1.1"},
		{"cleartext h2c", false, transport(func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }), "HTTP/2.0"},
		{"TLS HTTP/1.1", true, transport(func(p *http.Protocols) { p.SetHTTP1(true) }), "HTTP/1.1"},
		{"TLS HTTP/2", true, transport(func(p *http.Protocols) { p.SetHTTP2(true) }), "HTTP/2.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeTCPAddr(t)
			args := []string{"--http-addr", addr, "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
				"--hls=false", "--rtmp-addr=", "--srt-addr=", "--log-level", "warn"}
			scheme := "http"
			if tc.tls {
				args = append(args, "--tls-cert", cert, "--tls-key", key)
				scheme = "https"
				tc.client.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- serve(ctx, args, io.Discard) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			client := &http.Client{Transport: tc.client, Timeout: 5 * time.Second}
			defer tc.client.CloseIdleConnections()
			var resp *http.Response
			var err error
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if resp, err = client.Get(scheme + "://" + addr + "/healthz"); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("GET /healthz: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "ok\n" || resp.Proto != tc.want {
				t.Fatalf("GET /healthz: %s %s %q, want 200 over %s", resp.Proto, resp.Status, body, tc.want)
			}
		})
	}
}

func TestServeTLSOptionsAreChecked(t *testing.T) {
	cert, key, _ := selfSignedCert(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", cert}, "give both or neither"},
		{[]string{"--tls-key", key}, "give both or neither"},
		{[]string{"--tls-cert", key, "--tls-key", key}, "tls-cert"},
		{[]string{"--tls-cert", "/nonexistent.pem", "--tls-key", key}, "/nonexistent.pem"},
	}
	for _, tc := range cases {
		err := serve(context.Background(), tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
}

func transport(set func(*http.Protocols)) *http.Transport {
	var p http.Protocols
	set(&p)
	return &http.Transport{Protocols: &p}
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// selfSignedCert writes a certificate for localhost/127.0.0.1 and its key as PEM files and
// returns their paths and a pool that trusts the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "glint test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(parsed)
	return certFile, keyFile, pool
}
