// Command glint is the Glint live-video server: `glint serve` runs it, `glint demo`
// publishes a test pattern into a room, `glint version` prints the build.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/glint-video/glint/loadtest"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Usage: glint <command> [flags]

Commands:
  serve     run the server (WHIP, WHEP, pages, API, /metrics); glint serve --help
  demo      publish a test pattern with a clock and a tone to a WHIP URL; glint demo --help
  token     mint an access token for a room and role; glint token --help
  loadtest  measure a server with a synthetic publisher and N viewers; glint loadtest --help
  drain     take a running node out of service: refuse new sessions, move its viewers; glint drain --help
  healthcheck  GET /healthz of the local server, exit 0 when it answers 200 (container HEALTHCHECK)
  version   print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "glint:", err)
		if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
			os.Exit(1) // a container HEALTHCHECK's "unhealthy" (2 is reserved there)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "demo":
		return runDemo(ctx, args[1:], stderr)
	case "token":
		return runToken(args[1:], os.Getenv, stdout, stderr)
	case "loadtest":
		return loadtest.Command(ctx, args[1:], stdout, stderr)
	case "drain":
		return runDrain(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func versionString() string {
	rev := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("glint %s (commit %s, %s, %s/%s)", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
