package config

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestLimitsSettings: the defaults, flags and environment of the limits, and a clear error
// for each bad value.
func TestLimitsSettings(t *testing.T) {
	def := Defaults().Limits
	if def.RatePerIP != 20 || def.RateBurstPerIP != 40 || def.SessionsPerIP != 50 || def.Rooms != 0 ||
		def.Viewers != 0 || def.ReadHeaderTimeout != 10*time.Second || def.AccessLog {
		t.Errorf("limit defaults: %+v", def)
	}
	env := map[string]string{"GLINT_LIMIT_VIEWERS": "5000", "GLINT_TRUSTED_PROXY": "10.0.0.0/8,192.0.2.1"}
	c, err := Load([]string{"--limit-rate-per-ip=5", "--limit-rooms=10", "--access-log", "--http-idle-timeout=30s"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if exempt, err := def.ExemptPrefixes(); err != nil || len(exempt) != 2 || !exempt[0].Contains(netip.MustParseAddr("127.0.0.2")) {
		t.Errorf("default exempt clients %v (%v), want this machine", exempt, err)
	}
	if l.RatePerIP != 5 || l.Rooms != 10 || l.Viewers != 5000 || !l.AccessLog || l.IdleTimeout != 30*time.Second {
		t.Errorf("loaded: %+v", l)
	}
	prefixes, err := l.TrustedPrefixes()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if err != nil || len(prefixes) != 2 || prefixes[0] != want[0] || prefixes[1] != want[1] {
		t.Errorf("trusted proxies %v (%v), want %v", prefixes, err, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--limit-rate-per-ip=-1"}, "limit-rate-*: must not be negative"},
		{[]string{"--limit-rate-burst-per-ip=0"}, "limit-rate-burst-per-ip 0: must be at least 1"},
		{[]string{"--limit-sessions-per-ip=-3"}, "limit-sessions-per-ip -3: must not be negative"},
		{[]string{"--trusted-proxy=cdn.example.com"}, `trusted-proxy "cdn.example.com": want a CIDR`},
		{[]string{"--limit-exempt=localhost"}, `limit-exempt "localhost": want a CIDR`},
		{[]string{"--ready-max-load=-1"}, "ready-max-load -1: must not be negative"},
		{[]string{"--http-read-header-timeout=0s"}, "http-read-header-timeout"},
		{[]string{"--http-max-header-bytes=100"}, "http-max-header-bytes 100: must be at least 4096"},
	} {
		_, err := Load(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
