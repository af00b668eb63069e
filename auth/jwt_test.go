package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 10, 0, 30, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestAuthorizer(t testing.TB, c *clock, opts Options) *Authorizer {
	t.Helper()
	opts.Now = c.now
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mint(t testing.TB, c *clock, room, role, ttl string) string {
	t.Helper()
	tok, _, err := Mint([]byte(testSecret), TokenRequest{Room: room, Role: role, TTL: ttl}, c.now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestJWTGrants(t *testing.T) {
	c := newClock()
	a := newTestAuthorizer(t, c, Options{Secret: []byte(testSecret)})
	other, _, _ := Mint([]byte(strings.Repeat("x", 32)), TokenRequest{Room: "studio", Role: "publish"}, c.now())
	for _, tc := range []struct {
		name, token, room string
		role              Role
		status            int
	}{
		{"publish token publishes", mint(t, c, "studio", "publish", "1h"), "studio", Publish, 0},
		{"publish token cannot watch", mint(t, c, "studio", "publish", "1h"), "studio", Subscribe, 403},
		{"subscribe token cannot publish", mint(t, c, "studio", "subscribe", "1h"), "studio", Publish, 403},
		{"other room", mint(t, c, "studio", "publish", "1h"), "studio2", Publish, 403},
		{"prefix grant", mint(t, c, "studio*", "subscribe", "1h"), "studio-b", Subscribe, 0},
		{"prefix grant, other prefix", mint(t, c, "studio*", "subscribe", "1h"), "stage", Subscribe, 403},
		{"all rooms", mint(t, c, "*", "subscribe", "1h"), "anything", Subscribe, 0},
		{"admin implies publish", mint(t, c, "*", "admin", "1h"), "studio", Publish, 0},
		{"admin implies subscribe", mint(t, c, "studio", "admin", "1h"), "studio", Subscribe, 0},
		{"admin", mint(t, c, "*", "admin", "1h"), "", Admin, 0},
		{"publish is not admin", mint(t, c, "*", "publish", "1h"), "", Admin, 403},
		{"no token", "", "studio", Publish, 401},
		{"garbage", "nope", "studio", Publish, 401},
		{"other secret", other, "studio", Publish, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := a.check(context.Background(), tc.token, tc.room, tc.role, "whip", "127.0.0.1")
			if status := statusOrZero(err); status != tc.status {
				t.Fatalf("status %d (%v), want %d", status, err, tc.status)
			}
			if err == nil && (g.Source != "jwt" || g.Expires.IsZero()) {
				t.Errorf("grant %+v: want a JWT grant with its expiry", g)
			}
		})
	}
}

func statusOrZero(err error) int {
	if err == nil {
		return 0
	}
	return StatusOf(err)
}

// TestJWTExpiry: a token is good until exp plus the leeway, and refused after it; a token
// without exp is refused.
func TestJWTExpiry(t *testing.T) {
	c := newClock()
	a := newTestAuthorizer(t, c, Options{Secret: []byte(testSecret)})
	tok := mint(t, c, "studio", "subscribe", "1m")
	c.add(time.Minute + Leeway - time.Second)
	if _, err := a.check(context.Background(), tok, "studio", Subscribe, "whep", ""); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	c.add(2 * time.Second)
	_, err := a.check(context.Background(), tok, "studio", Subscribe, "whep", "")
	if StatusOf(err) != 401 || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after exp + leeway: %v, want 401 token expired", err)
	}
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{Room: "studio", Role: "subscribe"}).SignedString([]byte(testSecret))
	if _, err := a.check(context.Background(), noExp, "studio", Subscribe, "whep", ""); StatusOf(err) != 401 {
		t.Fatalf("token without exp: %v, want 401", err)
	}
}

func TestMintRejectsBadRequests(t *testing.T) {
	for _, tr := range []TokenRequest{
		{Room: "bad room", Role: "publish"}, {Room: "studio", Role: "owner"}, {Room: "studio", Role: "publish", TTL: "-1h"},
		{Room: "studio", Role: "publish", TTL: "soon"}, {Room: "studio", Role: "subscribe", MaxLayer: "x"}, {Room: "", Role: "publish"},
	} {
		if _, _, err := Mint([]byte(testSecret), tr, time.Now()); err == nil {
			t.Errorf("Mint(%+v): no error", tr)
		}
	}
	if _, _, err := Mint([]byte("short"), TokenRequest{Room: "a", Role: "publish"}, time.Now()); err == nil {
		t.Error("Mint with a 5-byte secret: no error")
	}
}

// jwksServer serves the public halves of keys as a JWK set and counts its fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    map[string]crypto.PublicKey
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	js := &jwksServer{keys: map[string]crypto.PublicKey{}}
	js.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		js.fetches.Add(1)
		js.mu.Lock()
		defer js.mu.Unlock()
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		b64 := base64.RawURLEncoding.EncodeToString
		for kid, k := range js.keys {
			switch k := k.(type) {
			case *rsa.PublicKey:
				set.Keys = append(set.Keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
			case *ecdsa.PublicKey:
				x, y := make([]byte, 32), make([]byte, 32)
				k.X.FillBytes(x)
				k.Y.FillBytes(y)
				set.Keys = append(set.Keys, map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(x), "y": b64(y)})
			}
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(js.Close)
	return js
}

func (js *jwksServer) add(kid string, k crypto.PublicKey) {
	js.mu.Lock()
	js.keys[kid] = k
	js.mu.Unlock()
}

func signWith(t *testing.T, method jwt.SigningMethod, key any, kid string, c *clock, room, role string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, Claims{Room: room, Role: role,
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(c.now().Add(time.Hour))}})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWKS: RS256 and ES256 tokens verify with the keys of a JWKS URL; a token with a
// new kid makes the set be fetched again (at most every jwksMinRefresh); a token signed by
// a key not in the set, or with the wrong algorithm for its key, is refused.
func TestJWKS(t *testing.T) {
	c := newClock()
	js := newJWKSServer(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	js.add("rsa1", &rsaKey.PublicKey)
	js.add("ec1", &ecKey.PublicKey)
	a := newTestAuthorizer(t, c, Options{JWKSURL: js.URL})
	ctx := context.Background()
	for _, tok := range []string{
		signWith(t, jwt.SigningMethodRS256, rsaKey, "rsa1", c, "studio", "publish"),
		signWith(t, jwt.SigningMethodES256, ecKey, "ec1", c, "studio", "publish"),
	} {
		if g, err := a.check(ctx, tok, "studio", Publish, "whip", ""); err != nil || g.Source != "jwt" {
			t.Fatalf("JWKS token: %+v %v", g, err)
		}
	}
	if n := js.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches for two known keys, want 1", n)
	}
	rotated, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	js.add("ec2", &rotated.PublicKey)
	tok := signWith(t, jwt.SigningMethodES256, rotated, "ec2", c, "studio", "subscribe")
	if _, err := a.check(ctx, tok, "studio", Subscribe, "whep", ""); StatusOf(err) != 401 {
		t.Fatalf("new kid within %s of the last fetch: %v, want 401 (no refetch yet)", jwksMinRefresh, err)
	}
	c.add(jwksMinRefresh)
	if _, err := a.check(ctx, tok, "studio", Subscribe, "whep", ""); err != nil {
		t.Fatalf("new kid after the refresh interval: %v", err)
	}
	if n := js.fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2", n)
	}
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tok := range map[string]string{
		"unknown key":          signWith(t, jwt.SigningMethodRS256, stranger, "rsa1", c, "studio", "publish"),
		"EC kid, RSA alg":      signWith(t, jwt.SigningMethodRS256, rsaKey, "ec1", c, "studio", "publish"),
		"HS256 without secret": mint(t, c, "studio", "publish", "1h"),
	} {
		if _, err := a.check(ctx, tok, "studio", Publish, "whip", ""); StatusOf(err) != 401 {
			t.Errorf("%s: %v, want 401", name, err)
		}
	}
}

func TestParseJWKSRejectsBadKeys(t *testing.T) {
	for name, set := range map[string]string{
		"short RSA":    `{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`,
		"EC off curve": `{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 42) + `E"}]}`,
		"EC P-384":     `{"keys":[{"kty":"EC","kid":"a","crv":"P-384","x":"AA","y":"AA"}]}`,
		"not JSON":     `{"keys":`,
	} {
		if _, err := parseJWKS(strings.NewReader(set)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	keys, err := parseJWKS(strings.NewReader(`{"keys":[{"kty":"oct","kid":"s","k":"AA"},{"kty":"RSA","use":"enc","kid":"e"}]}`))
	if err != nil || len(keys) != 0 {
		t.Errorf("symmetric and encryption keys: %v %v, want them left out", keys, err)
	}
}
