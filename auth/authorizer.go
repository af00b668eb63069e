package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Options configure an Authorizer. The zero value is a node with auth off: every check
// passes.
type Options struct {
	// Secret verifies (and mints) HS256 access tokens; at least MinSecretBytes.
	Secret []byte
	// JWKSURL, when set, verifies RS256 and ES256 tokens with the keys it serves.
	JWKSURL string
	// RoomTokens are the simple mode: room → static bearer token, which grants publish
	// and subscribe in that room.
	RoomTokens map[string]string
	// StreamKeys: room → key for RTMP/SRT (and WHIP) publishing; "*" is the key of every
	// room without its own.
	StreamKeys map[string]string
	// AdminKey is a static bearer token with the admin role.
	AdminKey string
	// NodeSecret is the cluster secret: other nodes' relays present it to subscribe to any
	// room, and their pushes (a publisher kept on a node that does not own its room) to
	// publish to it (it does not turn access control on by itself).
	NodeSecret string
	// WebhookURL, when set, is asked about publish and play requests no local credential
	// allows (see webhook.go).
	WebhookURL      string
	WebhookTimeout  time.Duration // 0: DefaultWebhookTimeout
	WebhookCacheTTL time.Duration // 0: DefaultWebhookCacheTTL
	// URLKey signs media URLs; empty: derived from Secret, else random per process.
	URLKey []byte
	// URLTTL is how long a signed part, segment or init URL stays valid; 0: DefaultURLTTL.
	URLTTL time.Duration
	Log    *slog.Logger
	Now    func() time.Time // the clock (tests); nil: time.Now
}

// Authorizer checks credentials against rooms and roles. Safe for concurrent use.
type Authorizer struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	jwt     *jwtSource // nil: no JWT verification
	webhook *webhook   // nil: no webhook
	signer  *urlSigner
	denials denialCounts
	// httpOn: HTTP entries need credentials; ingestOn: RTMP/SRT need a key.
	httpOn, ingestOn bool
}

// New returns an Authorizer for opts.
func New(opts Options) (*Authorizer, error) {
	a := &Authorizer{opts: opts, log: opts.Log, now: opts.Now, denials: newDenialCounts()}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if n := len(opts.Secret); n > 0 && n < MinSecretBytes {
		return nil, fmt.Errorf("auth: the secret has %d bytes, at least %d are needed", n, MinSecretBytes)
	}
	var keys *jwks
	if opts.JWKSURL != "" {
		keys = newJWKS(opts.JWKSURL, a.log, a.now)
	}
	if len(opts.Secret) > 0 || keys != nil {
		a.jwt = newJWTSource(opts.Secret, keys, a.now)
	}
	if opts.WebhookURL != "" {
		a.webhook = newWebhook(opts.WebhookURL, orDefault(opts.WebhookTimeout, DefaultWebhookTimeout),
			orDefault(opts.WebhookCacheTTL, DefaultWebhookCacheTTL), a.log, a.now)
	}
	urlKey := opts.URLKey
	switch {
	case len(urlKey) > 0:
	case len(opts.Secret) > 0:
		urlKey = deriveKey(opts.Secret, "glint signed media urls")
	default:
		urlKey = make([]byte, 32)
		_, _ = rand.Read(urlKey)
	}
	a.signer = newURLSigner(urlKey, orDefault(opts.URLTTL, DefaultURLTTL), a.now)
	a.httpOn = a.jwt != nil || a.webhook != nil || len(opts.RoomTokens) > 0 || opts.AdminKey != ""
	a.ingestOn = a.httpOn || len(opts.StreamKeys) > 0
	return a, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Enabled reports whether HTTP requests need credentials.
func (a *Authorizer) Enabled() bool { return a.httpOn }

// CanMint reports whether the Authorizer has a secret to mint tokens with.
func (a *Authorizer) CanMint() bool { return len(a.opts.Secret) > 0 }

// open is the grant of a request that needs no credential.
var open = Grant{Room: "*", Roles: Publish | Subscribe, Source: "open"}

// Check authorizes r for role in room: its credential is "Authorization: Bearer T", else
// the query's token=T. The error is an *Error (401 or 403) with the reason.
func (a *Authorizer) Check(r *http.Request, room string, role Role) (Grant, error) {
	return a.check(r.Context(), credential(r), room, role, protocolOf(r.URL.Path), clientIP(r.RemoteAddr))
}

// IngestRequest is an RTMP or SRT publisher asking to publish.
type IngestRequest struct {
	Room, Key, Protocol, RemoteAddr string
}

// AuthorizeIngest checks an RTMP/SRT publisher's stream key, which may be a static stream
// key, a room token or a publish token. When any auth is configured a key is required.
func (a *Authorizer) AuthorizeIngest(ctx context.Context, req IngestRequest) error {
	if !a.ingestOn {
		return nil
	}
	_, err := a.checkCredential(ctx, req.Key, req.Room, Publish, req.Protocol, clientIP(req.RemoteAddr))
	if err != nil {
		a.denials.count(err)
	}
	return err
}

func (a *Authorizer) check(ctx context.Context, cred, room string, role Role, protocol, ip string) (Grant, error) {
	if !a.httpOn || (role != Admin && a.roomOpen(room)) {
		return open, nil
	}
	return a.checkCredential(ctx, cred, room, role, protocol, ip)
}

// roomOpen reports whether room needs no credential: in the simple mode alone (room
// tokens, no JWT and no webhook), rooms without a room token stay open, as before.
func (a *Authorizer) roomOpen(room string) bool {
	if a.jwt != nil || a.webhook != nil || len(a.opts.RoomTokens) == 0 {
		return false
	}
	_, listed := a.opts.RoomTokens[room]
	return !listed
}

func (a *Authorizer) checkCredential(ctx context.Context, cred, room string, role Role, protocol, ip string) (Grant, error) {
	now := a.now()
	var denied error
	if cred != "" {
		g, err := a.grantOf(ctx, cred, room)
		switch {
		case err != nil:
			denied = err
		case g.Covers(room, role, now):
			return g, nil
		case g.expired(now):
			denied = unauthorized(DenyExpired, "token expired")
		case role == Admin:
			denied = forbidden(DenyForbidden, "this needs an admin token; the token's role is %s", g.Roles)
		default:
			denied = forbidden(DenyForbidden, "the token (room %q, %s) does not allow %s in room %q", g.Room, g.Roles, role, room)
		}
	}
	if a.webhook != nil && role != Admin {
		action := "play"
		if role == Publish {
			action = "publish"
		}
		err := a.webhook.ask(ctx, WebhookRequest{Action: action, Room: room, Protocol: protocol, IP: ip, Token: cred})
		if err == nil {
			return Grant{Room: room, Roles: role, Source: "webhook"}, nil
		}
		if denied == nil || StatusOf(denied) == 401 {
			denied = err
		}
	}
	switch {
	case denied != nil:
	case role == Admin:
		denied = unauthorized(DenyNoCredential, "this needs an admin token")
	default:
		denied = unauthorized(DenyNoCredential, "%s in room %q needs a token", role, room)
	}
	return Grant{}, denied
}

// grantOf finds what cred grants: the admin key, a room token, a stream key (for room),
// or a JWT.
func (a *Authorizer) grantOf(ctx context.Context, cred, room string) (Grant, error) {
	if a.opts.AdminKey != "" && equal(cred, a.opts.AdminKey) {
		return Grant{Room: "*", Roles: Admin, Source: "admin-key"}, nil
	}
	if a.opts.NodeSecret != "" && equal(cred, a.opts.NodeSecret) {
		return Grant{Room: "*", Roles: Publish | Subscribe, Source: "cluster"}, nil
	}
	if a.jwt != nil && looksLikeJWT(cred) {
		return a.jwt.grant(ctx, cred)
	}
	for r, token := range a.opts.RoomTokens {
		if equal(cred, token) {
			return Grant{Room: r, Roles: Publish | Subscribe, Source: "room-token"}, nil
		}
	}
	key, ok := a.opts.StreamKeys[room]
	if !ok {
		key, ok = a.opts.StreamKeys["*"]
	}
	switch {
	case ok && equal(cred, key):
		return Grant{Room: room, Roles: Publish, Source: "stream-key"}, nil
	case !ok && len(a.opts.StreamKeys) > 0 && a.jwt == nil:
		return Grant{}, unauthorized(DenyInvalid, "invalid token (room %q takes no ingest: it has no stream key)", room)
	}
	return Grant{}, unauthorized(DenyInvalid, "invalid token")
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// credential is the request's bearer token, else its token query parameter.
func credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("token")
}

// protocolOf names the entry of a path for the webhook: whip, whep, hls, dvr, events, api.
func protocolOf(path string) string {
	first, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch {
	case first == "ws" || (first == "api" && strings.HasSuffix(rest, "/events")):
		return "events"
	}
	return first
}

func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}
