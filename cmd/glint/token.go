package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/config"
)

// runToken is `glint token`: it mints an HS256 access token with the node's secret
// (--secret, else the serve configuration: GLINT_AUTH_SECRET, GLINT_AUTH_SECRET_FILE or
// auth_secret in --config / GLINT_CONFIG) and prints it on stdout.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("glint token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var req auth.TokenRequest
	var secret, configPath string
	fs.StringVar(&req.Room, "room", "", "room the token is for: a name, a prefix ending in * (studio*), or *")
	fs.StringVar(&req.Role, "role", "subscribe", "publish, subscribe or admin (admin implies the others)")
	fs.StringVar(&req.TTL, "ttl", auth.DefaultTokenTTL.String(), "lifetime, e.g. 30m, 1h, 24h")
	fs.StringVar(&req.MaxLayer, "max-layer", "", "highest simulcast layer a WHEP viewer gets: l, m or h")
	fs.StringVar(&req.ViewerID, "viewer-id", "", "an id of the viewer, carried in the token")
	fs.StringVar(&secret, "secret", "", "HS256 secret (at least 32 bytes); default: the serve configuration's auth secret")
	fs.StringVar(&configPath, "config", "", "glint serve's YAML config file to read auth_secret from")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: glint token --room ROOM [--role publish|subscribe|admin] [--ttl 1h] [--secret S | --config FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	}
	if req.Room == "" {
		return errors.New("token: --room is required")
	}
	if secret == "" {
		var loadArgs []string
		if configPath != "" {
			loadArgs = []string{"--config", configPath}
		}
		cfg, err := config.Load(loadArgs, getenv, io.Discard)
		if err != nil {
			return fmt.Errorf("token: the serve configuration: %w", err)
		}
		if secret = cfg.Auth.HS256Secret(); secret == "" {
			return errors.New("token: no secret: give --secret, GLINT_AUTH_SECRET, GLINT_AUTH_SECRET_FILE, or --config with auth_secret")
		}
	}
	token, exp, err := auth.Mint([]byte(secret), req, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stderr, "room %s, role %s, expires %s\n", req.Room, req.Role, exp.UTC().Format(time.RFC3339))
	return nil
}
