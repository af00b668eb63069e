// Package auth owns who may do what on a Glint node: access tokens (JWT: HS256 with the
// node's secret, RS256/ES256 from a JWKS URL), the static simple mode (room tokens, stream
// keys, an admin key), an external authorization webhook, and signed media URLs for
// LL-HLS and the DVR. An Authorizer checks a credential against a room and a Role;
// Protect wraps a node's whole HTTP handler so that every entry is checked in one place
// (see rules.go), and AuthorizeIngest does the same for RTMP/SRT stream keys. docs/auth.md
// is the user's view.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Role is what a grant allows in a room. Admin implies every other role.
type Role uint8

// The roles. Roles combine as a set (a static room token grants publish and subscribe).
const (
	Subscribe Role = 1 << iota
	Publish
	Admin
)

// ParseRole reads "publish", "subscribe" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "publish":
		return Publish, nil
	case "subscribe":
		return Subscribe, nil
	case "admin":
		return Admin, nil
	}
	return 0, fmt.Errorf("role %.20q: want publish, subscribe or admin", s)
}

// String names a single role ("publish"), or a set joined by "+".
func (r Role) String() string {
	var names []string
	for _, x := range []struct {
		r    Role
		name string
	}{{Admin, "admin"}, {Publish, "publish"}, {Subscribe, "subscribe"}} {
		if r&x.r != 0 {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, "+")
}

// allows reports whether the role set r allows want.
func (r Role) allows(want Role) bool { return r&Admin != 0 || r&want == want }

// Grant is what a credential allows: a room (exact, a prefix ending in "*", or "*" for
// every room), roles, an expiry (zero: none), and for viewers an optional layer cap and id.
type Grant struct {
	Room     string
	Roles    Role
	Expires  time.Time
	MaxLayer string // "l", "m" or "h": the highest simulcast layer a WHEP viewer gets
	ViewerID string
	Source   string // which source granted it: "jwt", "room-token", "stream-key", "admin-key", "webhook", "signed-url", "open"
}

// Open is the grant of a request that needs no credential (auth off, or an open room).
func (g Grant) Open() bool { return g.Source == "open" }

// Covers reports whether g allows role in room at now (within Leeway of its expiry).
func (g Grant) Covers(room string, role Role, now time.Time) bool {
	return g.Roles.allows(role) && roomMatches(g.Room, room) && !g.expired(now)
}

func (g Grant) expired(now time.Time) bool {
	return !g.Expires.IsZero() && !now.Before(g.End())
}

// End is when the grant stops allowing anything: its expiry plus the clock-skew Leeway
// (zero when it never expires). A session it started ends then.
func (g Grant) End() time.Time {
	if g.Expires.IsZero() {
		return time.Time{}
	}
	return g.Expires.Add(Leeway)
}

// roomMatches reports whether the grant pattern (exact, "prefix*" or "*") covers room.
func roomMatches(pattern, room string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(room, prefix)
	}
	return pattern == room
}

// Error is a refused check: Status is 401 (no or bad credential), 403 (a valid
// credential that does not cover the request) or 400; Kind is one of the Deny* kinds.
type Error struct {
	Status int
	Kind   string
	Reason string
}

func (e *Error) Error() string { return e.Reason }

// The kinds of refusal, as counted by Denials.
const (
	DenyNoCredential = "no_credential"
	DenyInvalid      = "invalid_token"
	DenyExpired      = "expired"
	DenyForbidden    = "forbidden"
	DenySignedURL    = "bad_signed_url"
	DenyWebhook      = "webhook"
	DenyBadRequest   = "bad_request"
)

var denyKinds = []string{DenyNoCredential, DenyInvalid, DenyExpired, DenyForbidden, DenySignedURL, DenyWebhook, DenyBadRequest}

func unauthorized(kind, format string, args ...any) error {
	return &Error{Status: 401, Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

func forbidden(kind, format string, args ...any) error {
	return &Error{Status: 403, Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// StatusOf returns the HTTP status of a check's error: 401, 403, or 500 for anything else.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 500
}

type grantKey struct{}

// WithGrant returns ctx carrying g (Protect does this for the handlers behind it).
func WithGrant(ctx context.Context, g Grant) context.Context {
	return context.WithValue(ctx, grantKey{}, g)
}

// GrantFrom returns the grant Protect or Require found for the request of ctx.
func GrantFrom(ctx context.Context) (Grant, bool) {
	g, ok := ctx.Value(grantKey{}).(Grant)
	return g, ok
}
