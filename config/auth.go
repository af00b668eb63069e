package config

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// AuthSettings are the access-control options beyond the simple mode's room tokens and
// stream keys (docs/auth.md).
type AuthSettings struct {
	// Mode is "" (auth from whatever is configured) or "none": explicitly open, which
	// silences the warning about an open public listener.
	Mode            string        `yaml:"auth"`
	Secret          string        `yaml:"auth_secret"`      // HS256 secret, at least 32 bytes
	SecretFile      string        `yaml:"auth_secret_file"` // a file holding it (trailing newline ignored)
	JWKSURL         string        `yaml:"auth_jwks_url"`
	AdminKey        string        `yaml:"auth_admin_key"`
	Webhook         string        `yaml:"auth_webhook"`
	WebhookTimeout  time.Duration `yaml:"auth_webhook_timeout"`
	WebhookCacheTTL time.Duration `yaml:"auth_webhook_cache_ttl"`
	SignedURLTTL    time.Duration `yaml:"auth_url_ttl"`
	secretFromFile  string        // read by validateAuth
}

// AuthModeNone is --auth=none.
const AuthModeNone = "none"

func defaultAuth() AuthSettings {
	return AuthSettings{WebhookTimeout: 2 * time.Second, WebhookCacheTTL: 30 * time.Second, SignedURLTTL: 5 * time.Minute}
}

// bindAuth binds the auth flags.
func (c *Config) bindAuth(fs *flag.FlagSet) {
	a := &c.Auth
	fs.StringVar(&a.Mode, "auth", a.Mode, "none: run open on purpose (silences the warning for a public listen address); empty: auth as configured below")
	fs.StringVar(&a.Secret, "auth-secret", a.Secret, "HS256 secret (at least 32 bytes) that verifies and mints access tokens (prefer GLINT_AUTH_SECRET or --auth-secret-file)")
	fs.StringVar(&a.SecretFile, "auth-secret-file", a.SecretFile, "file holding the HS256 secret")
	fs.StringVar(&a.JWKSURL, "auth-jwks-url", a.JWKSURL, "JWKS URL whose RSA/P-256 keys verify RS256/ES256 access tokens")
	fs.StringVar(&a.AdminKey, "auth-admin-key", a.AdminKey, "static bearer token with the admin role (the room list, /api/*, minting tokens)")
	fs.StringVar(&a.Webhook, "auth-webhook", a.Webhook, "URL asked (POST JSON {action, room, protocol, ip, token}) about publish/play requests no token allows: 2xx allows, 4xx denies")
	fs.DurationVar(&a.WebhookTimeout, "auth-webhook-timeout", a.WebhookTimeout, "how long the webhook may take; no answer in time denies")
	fs.DurationVar(&a.WebhookCacheTTL, "auth-webhook-cache-ttl", a.WebhookCacheTTL, "how long a webhook answer is reused for the same action, room and credential")
	fs.DurationVar(&a.SignedURLTTL, "auth-url-ttl", a.SignedURLTTL, "lifetime of the signed LL-HLS part/segment URLs handed to authorized viewers")
}

// validateAuth checks the auth options and reads the secret file.
func (c *Config) validateAuth() error {
	a := &c.Auth
	switch a.Mode {
	case "":
	case AuthModeNone:
		if a.configured() || len(c.RoomTokens) > 0 || len(c.StreamKeys) > 0 {
			return fmt.Errorf("auth none: conflicts with the configured secret, keys, tokens or webhook")
		}
	default:
		return fmt.Errorf("auth %q: want none, or leave it empty", a.Mode)
	}
	if a.Secret != "" && a.SecretFile != "" {
		return fmt.Errorf("auth-secret and auth-secret-file: give one")
	}
	if a.SecretFile != "" {
		data, err := os.ReadFile(a.SecretFile)
		if err != nil {
			return fmt.Errorf("auth-secret-file: %w", err)
		}
		a.secretFromFile = strings.TrimRight(string(data), "\r\n")
	}
	if n := len(a.HS256Secret()); n > 0 && n < 32 {
		return fmt.Errorf("auth-secret: %d bytes, at least 32 are needed (e.g. openssl rand -hex 32)", n)
	}
	for name, u := range map[string]string{"auth-jwks-url": a.JWKSURL, "auth-webhook": a.Webhook} {
		if p, err := url.Parse(u); u != "" && (err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "") {
			return fmt.Errorf("%s %q: want an http(s) URL", name, u)
		}
	}
	if err := positive("auth-webhook-timeout", a.WebhookTimeout); err != nil {
		return err
	}
	if a.WebhookCacheTTL < 0 {
		return fmt.Errorf("auth-webhook-cache-ttl %s: must not be negative", a.WebhookCacheTTL)
	}
	if a.SignedURLTTL < 10*time.Second || a.SignedURLTTL > 24*time.Hour {
		return fmt.Errorf("auth-url-ttl %s: must be 10s-24h", a.SignedURLTTL)
	}
	return nil
}

// HS256Secret is the secret from --auth-secret or --auth-secret-file (valid after Validate).
func (a AuthSettings) HS256Secret() string {
	if a.Secret != "" {
		return a.Secret
	}
	return a.secretFromFile
}

func (a AuthSettings) configured() bool {
	return a.Secret != "" || a.SecretFile != "" || a.JWKSURL != "" || a.AdminKey != "" || a.Webhook != ""
}

// AuthConfigured reports whether any access control is configured (room tokens and
// stream keys included).
func (c *Config) AuthConfigured() bool {
	return c.Auth.configured() || len(c.RoomTokens) > 0 || len(c.StreamKeys) > 0
}
