package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommandLineErrorsAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--udp-port", "70000"}, "udp-port 70000: must be 0-65535"},
		{[]string{"serve", "--publisher-policy", "maybe"}, `publisher-policy "maybe"`},
		{[]string{"serve", "--public-ip", "not-an-ip"}, `public-ip "not-an-ip": not an IP address`},
		{[]string{"serve", "--http-addr", "nonsense"}, `http-addr "nonsense"`},
		{[]string{"serve", "--config", "/nonexistent.yaml"}, "config file"},
		{[]string{"demo", "--size", "big"}, `size "big"`},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("glint %v: got %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "glint ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"serve", "--help"}, &out, &errOut); err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	for _, flag := range []string{"-http-addr", "-udp-port", "-ice-tcp", "-public-ip", "-ice-ip", "-ice-interface", "-ice-server", "-publisher-policy", "-room-token", "GLINT_"} {
		if !strings.Contains(errOut.String(), flag) {
			t.Errorf("serve --help does not document %s", flag)
		}
	}
}
