package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/glint-video/glint/config"
)

// runDrain is `glint drain`: POST /api/drain on a running node, which then refuses new
// sessions, tells its viewers to move to another node and ends its sessions after the period.
func runDrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the node's HTTP base URL")
	token := fs.String("token", os.Getenv(config.EnvPrefix+"AUTH_ADMIN_KEY"), "admin bearer token (the --auth-admin-key or an admin token; default $GLINT_AUTH_ADMIN_KEY)")
	fs.StringVar(token, "admin-key", *token, "same as --token")
	period := fs.Duration("period", 0, "how long viewers get to move before the node's sessions end (0: the node's --drain-period, else 10s)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on the request after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("drain: unexpected argument %q", fs.Arg(0))
	}
	body := ""
	if *period > 0 {
		body = fmt.Sprintf(`{"period":%q}`, period.String())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(*base, "/")+"/api/drain", strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("drain: POST %s: %s: %s", req.URL, resp.Status, strings.TrimSpace(string(out)))
	}
	_, err = stdout.Write(out)
	return err
}
