package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// JWKS timings: a fetch's timeout, how long fetched keys are used before a refresh, and
// the least time between two fetches (an unknown kid refreshes at most this often).
const (
	jwksFetchTimeout = 5 * time.Second
	jwksMaxAge       = time.Hour
	jwksMinRefresh   = 10 * time.Second
	jwksMaxBytes     = 1 << 20
)

// jwks is the cached key set of a JWKS URL: RSA keys for RS256, P-256 keys for ES256.
type jwks struct {
	url    string
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	keys    map[string]crypto.PublicKey
	fetched time.Time // of the last fetch attempt
}

func newJWKS(url string, log *slog.Logger, now func() time.Time) *jwks {
	return &jwks{url: url, client: &http.Client{Timeout: jwksFetchTimeout}, log: log, now: now}
}

// key returns the key kid for alg, fetching the set when it is stale or lacks kid.
func (k *jwks) key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[kid]
	age := k.now().Sub(k.fetched)
	if (!ok && age >= jwksMinRefresh) || age >= jwksMaxAge {
		if err := k.refreshLocked(ctx); err != nil {
			k.log.Warn("auth: jwks fetch failed", "url", k.url, "err", err)
		}
		key, ok = k.keys[kid]
	}
	if !ok {
		return nil, fmt.Errorf("no key %.40q in the JWKS", kid)
	}
	switch key.(type) {
	case *rsa.PublicKey:
		if alg == "RS256" {
			return key, nil
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" {
			return key, nil
		}
	}
	return nil, fmt.Errorf("key %.40q does not fit %s", kid, alg)
}

func (k *jwks) refreshLocked(ctx context.Context) error {
	k.fetched = k.now()
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks: %s", resp.Status)
	}
	keys, err := parseJWKS(io.LimitReader(resp.Body, jwksMaxBytes))
	if err != nil {
		return err
	}
	k.keys = keys
	return nil
}

// jwk is one key of a JWK set (RFC 7517/7518), the RSA and EC members only.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JWK set; keys of other types or uses are left out, a malformed RSA or
// EC key is an error.
func parseJWKS(r io.Reader) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(r).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		var key crypto.PublicKey
		var err error
		switch j.Kty {
		case "RSA":
			key, err = j.rsaKey()
		case "EC":
			key, err = j.ecKey()
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jwks: key %.40q: %w", j.Kid, err)
		}
		keys[j.Kid] = key
	}
	return keys, nil
}

func (j jwk) rsaKey() (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(j.N)
	if err != nil || len(n) < 256 {
		return nil, fmt.Errorf("RSA modulus: want at least 2048 bits of base64url")
	}
	e, err := base64.RawURLEncoding.DecodeString(j.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("RSA exponent: want 1-4 bytes of base64url")
	}
	exp := new(big.Int).SetBytes(e)
	if exp.Int64() < 3 {
		return nil, fmt.Errorf("RSA exponent %d too small", exp.Int64())
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}

// ecKey reads a P-256 key (ES256 is the only EC algorithm accepted).
func (j jwk) ecKey() (*ecdsa.PublicKey, error) {
	if j.Crv != "P-256" {
		return nil, fmt.Errorf("curve %.20q: only P-256 (ES256) is supported", j.Crv)
	}
	x, errX := base64.RawURLEncoding.DecodeString(j.X)
	y, errY := base64.RawURLEncoding.DecodeString(j.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("EC point: want 32-byte x and y in base64url")
	}
	point := append(append([]byte{4}, x...), y...)
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return key, nil
}
