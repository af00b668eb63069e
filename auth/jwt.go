package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/glint-video/glint/config"
)

// Leeway is the clock skew allowed on a token's exp, nbf and iat.
const Leeway = 5 * time.Second

// MinSecretBytes is the shortest HS256 secret accepted: 256 bits, the hash's size.
const MinSecretBytes = 32

// Claims are the claims of a Glint access token: a room (exact, "prefix*" or "*"), one
// role, exp (required), and optionally a WHEP viewer's layer cap and a viewer id.
type Claims struct {
	jwt.RegisteredClaims
	Room     string `json:"room"`
	Role     string `json:"role"`
	MaxLayer string `json:"max_layer,omitempty"`
	ViewerID string `json:"viewer_id,omitempty"`
}

// TokenRequest is what Mint puts into a token (the JSON body of POST /api/tokens).
type TokenRequest struct {
	Room     string `json:"room"`
	Role     string `json:"role"`
	TTL      string `json:"ttl"` // a Go duration, e.g. "1h"; empty: DefaultTokenTTL
	MaxLayer string `json:"max_layer,omitempty"`
	ViewerID string `json:"viewer_id,omitempty"`
}

// DefaultTokenTTL is a minted token's lifetime when the request names none.
const DefaultTokenTTL = time.Hour

// MaxTokenTTL bounds a minted token's lifetime.
const MaxTokenTTL = 366 * 24 * time.Hour

// validate checks a token request and returns its lifetime.
func (tr TokenRequest) validate() (time.Duration, error) {
	if tr.Room != "*" && !config.ValidRoomName(strings.TrimSuffix(tr.Room, "*")) {
		return 0, fmt.Errorf("room %.70q: a room name, a prefix ending in * (studio*), or *", tr.Room)
	}
	if _, err := ParseRole(tr.Role); err != nil {
		return 0, err
	}
	ttl := DefaultTokenTTL
	if tr.TTL != "" {
		d, err := time.ParseDuration(tr.TTL)
		if err != nil || d <= 0 || d > MaxTokenTTL {
			return 0, fmt.Errorf("ttl %.30q: want a positive duration up to %s, e.g. 1h", tr.TTL, MaxTokenTTL)
		}
		ttl = d
	}
	switch tr.MaxLayer {
	case "", "l", "m", "h":
	default:
		return 0, fmt.Errorf("max_layer %.20q: want l, m or h", tr.MaxLayer)
	}
	if len(tr.ViewerID) > 128 {
		return 0, fmt.Errorf("viewer_id: %d characters, at most 128", len(tr.ViewerID))
	}
	return ttl, nil
}

// Mint signs an HS256 token for tr with secret, issued at now; it returns the token and
// its expiry.
func Mint(secret []byte, tr TokenRequest, now time.Time) (string, time.Time, error) {
	if len(secret) < MinSecretBytes {
		return "", time.Time{}, fmt.Errorf("token: the secret has %d bytes, at least %d are needed", len(secret), MinSecretBytes)
	}
	ttl, err := tr.validate()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: %w", err)
	}
	exp := now.Add(ttl).Truncate(time.Second)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)},
		Room:             tr.Room, Role: tr.Role, MaxLayer: tr.MaxLayer, ViewerID: tr.ViewerID,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: sign: %w", err)
	}
	return s, exp, nil
}

// jwtSource verifies access tokens: HS256 with the secret, RS256/ES256 with a JWKS key.
type jwtSource struct {
	secret []byte
	jwks   *jwks // nil: no JWKS URL
	parser *jwt.Parser
}

func newJWTSource(secret []byte, keys *jwks, now func() time.Time) *jwtSource {
	methods := []string{}
	if len(secret) > 0 {
		methods = append(methods, "HS256")
	}
	if keys != nil {
		methods = append(methods, "RS256", "ES256")
	}
	return &jwtSource{secret: secret, jwks: keys, parser: jwt.NewParser(jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(), jwt.WithLeeway(Leeway), jwt.WithTimeFunc(now))}
}

// looksLikeJWT tells a JWT (three dot-separated parts starting with a JSON header) from a
// static token.
func looksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

// grant verifies token; errors are 401s with the reason.
func (js *jwtSource) grant(ctx context.Context, token string) (Grant, error) {
	var claims Claims
	_, err := js.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case "HS256":
			return js.secret, nil
		default:
			kid, _ := t.Header["kid"].(string)
			return js.jwks.key(ctx, kid, t.Method.Alg())
		}
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Grant{}, unauthorized(DenyExpired, "token expired")
	case err != nil:
		return Grant{}, unauthorized(DenyInvalid, "invalid token: %v", trimJWTError(err))
	}
	role, err := ParseRole(claims.Role)
	if err != nil {
		return Grant{}, unauthorized(DenyInvalid, "invalid token: %v", err)
	}
	if claims.Room == "" {
		return Grant{}, unauthorized(DenyInvalid, "invalid token: no room claim")
	}
	return Grant{Room: claims.Room, Roles: role, Expires: claims.ExpiresAt.Time, MaxLayer: claims.MaxLayer,
		ViewerID: claims.ViewerID, Source: "jwt"}, nil
}

// trimJWTError keeps jwt's wrapped error to its last, most specific part.
func trimJWTError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
