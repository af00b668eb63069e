package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/limits"
)

// newAuthorizer builds the node's one Authorizer from the config (docs/auth.md).
func newAuthorizer(cfg config.Config, log *slog.Logger) (*auth.Authorizer, error) {
	a := cfg.Auth
	return auth.New(auth.Options{
		Secret: []byte(a.HS256Secret()), JWKSURL: a.JWKSURL, AdminKey: a.AdminKey, NodeSecret: cfg.Relay.ClusterSecret,
		RoomTokens: cfg.RoomTokens, StreamKeys: cfg.StreamKeys,
		WebhookURL: a.Webhook, WebhookTimeout: a.WebhookTimeout, WebhookCacheTTL: a.WebhookCacheTTL,
		URLTTL: a.SignedURLTTL, Log: log,
	})
}

// logAuthMode says at start how the node is protected, and warns when it serves a public
// address with no auth at all unless --auth=none asked for that.
func logAuthMode(cfg config.Config, log *slog.Logger, authz *auth.Authorizer, httpAddr net.Addr) {
	switch {
	case authz.Enabled():
		log.Info("auth on", "jwt_secret", cfg.Auth.HS256Secret() != "", "jwks", cfg.Auth.JWKSURL, "webhook", cfg.Auth.Webhook,
			"room_tokens", len(cfg.RoomTokens), "stream_keys", len(cfg.StreamKeys), "admin_key", cfg.Auth.AdminKey != "")
	case cfg.Auth.Mode == config.AuthModeNone:
		log.Info("auth none: every room is open to anyone who reaches this node (--auth=none)")
	case !loopbackOnly(httpAddr):
		log.Warn("no auth configured and listening on a non-loopback address: anyone who reaches this node may publish, watch and use the API; set --auth-secret (docs/auth.md) or --auth=none to run open on purpose",
			"http", httpAddr.String(), "rtmp", cfg.RTMPAddr, "srt", cfg.SRTAddr)
	}
}

// loopbackOnly reports whether addr listens on a loopback address only.
func loopbackOnly(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().IsLoopback()
}

// adminCheck decides who is an administrator for the endpoints that check it themselves
// (the dashboard, pprof): with access control on, a request whose credential grants admin
// (auth.Protect has already refused the others on /api and /debug); without, connections
// from this machine only.
func (n *node) adminCheck() func(*http.Request) bool {
	if !n.auth.Enabled() {
		return limits.IsLoopback
	}
	return func(r *http.Request) bool {
		_, err := n.auth.Check(r, "", auth.Admin)
		return err == nil
	}
}
