package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodSecret = "0123456789abcdef0123456789abcdef"

// TestAuthSettings: defaults, the secret from flag, env and file, and each bad value's
// one-line error.
func TestAuthSettings(t *testing.T) {
	def := Defaults()
	if def.AuthConfigured() || def.Auth.WebhookTimeout != 2*time.Second || def.Auth.SignedURLTTL != 5*time.Minute {
		t.Errorf("auth defaults: %+v", def.Auth)
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(goodSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	for name, args := range map[string][]string{
		"flag": {"--auth-secret", goodSecret}, "file": {"--auth-secret-file", secretFile},
	} {
		c, err := Load(args, noEnv, io.Discard)
		if err != nil || c.Auth.HS256Secret() != goodSecret || !c.AuthConfigured() {
			t.Errorf("secret from %s: %q %v", name, c.Auth.HS256Secret(), err)
		}
	}
	c, err := Load(nil, func(k string) string { return map[string]string{"GLINT_AUTH_SECRET": goodSecret}[k] }, io.Discard)
	if err != nil || c.Auth.HS256Secret() != goodSecret {
		t.Errorf("secret from GLINT_AUTH_SECRET: %q %v", c.Auth.HS256Secret(), err)
	}
	if c, err := Load([]string{"--auth=none"}, noEnv, io.Discard); err != nil || c.Auth.Mode != AuthModeNone || c.AuthConfigured() {
		t.Errorf("--auth=none: %+v %v", c.Auth, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth-secret", "short"}, "at least 32"},
		{[]string{"--auth-secret", goodSecret, "--auth-secret-file", secretFile}, "give one"},
		{[]string{"--auth-secret-file", "/nonexistent/secret"}, "auth-secret-file"},
		{[]string{"--auth", "maybe"}, "want none"},
		{[]string{"--auth=none", "--room-token", "a=b"}, "conflicts"},
		{[]string{"--auth-jwks-url", "ftp://x/keys"}, "auth-jwks-url"},
		{[]string{"--auth-webhook", "not a url"}, "auth-webhook"},
		{[]string{"--auth-webhook-timeout", "0s"}, "auth-webhook-timeout"},
		{[]string{"--auth-url-ttl", "1s"}, "auth-url-ttl"},
	} {
		_, err := Load(tc.args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line with %q", tc.args, err, tc.want)
		}
	}
}
