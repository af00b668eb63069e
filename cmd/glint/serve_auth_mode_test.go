package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/config"
)

// TestOpenPublicListenerWarns: with no auth, a non-loopback listener logs a warning at
// start, a loopback one does not, and --auth=none turns the warning into an info line.
func TestOpenPublicListenerWarns(t *testing.T) {
	open, err := auth.New(auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	public := &net.TCPAddr{IP: net.IPv6zero, Port: 8080}
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	none := config.Defaults()
	none.Auth.Mode = config.AuthModeNone
	for _, tc := range []struct {
		name string
		cfg  config.Config
		addr net.Addr
		want string // "" : nothing logged
	}{
		{"public, no auth", config.Defaults(), public, "level=WARN msg=\"no auth configured"},
		{"loopback, no auth", config.Defaults(), loopback, ""},
		{"public, --auth=none", none, public, "level=INFO msg=\"auth none"},
	} {
		var buf bytes.Buffer
		logAuthMode(tc.cfg, slog.New(slog.NewTextHandler(&buf, nil)), open, tc.addr)
		if got := buf.String(); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: logged %q, want %q", tc.name, got, tc.want)
		}
	}
}
