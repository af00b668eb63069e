package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/glint-video/glint/loadtest"
)

// runLoadtest publishes a synthetic stream, adds viewers step by step and prints what the
// server did (one line per step on stderr, the table on stdout).
func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("glint loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a bad flag is a one-line error; --help prints the flags
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the Glint server")
	room := fs.String("room", "load", "room to publish to and play from")
	token := fs.String("token", "", "bearer token of the room, if it has one")
	viewers := fs.String("viewers", "1,100,300", "viewer count of each step, comma-separated")
	step := fs.Duration("step", 15e9, "measurement time of each step")
	warmup := fs.Duration("warmup", 3e9, "wait after the viewers joined, before measuring")
	kbps := fs.Int("bitrate", 2500, "video bitrate in kbit/s")
	fps := fs.Int("fps", 30, "video frames per second")
	batch := fs.Int("join-batch", 20, "viewers joined concurrently")
	loopback := fs.Bool("loopback", true, "use only 127.0.0.1 ICE candidates (server on this machine)")
	jsonPath := fs.String("json", "", "also write the whole report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "Usage: glint loadtest [flags]\n\nPublishes a synthetic H.264 + Opus stream to a room, then measures the server with\neach number of viewers in turn (one line per step on stderr, a table on stdout).\n\nFlags:")
			fs.PrintDefaults()
			return nil
		}
		return fmt.Errorf("loadtest: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("loadtest: unexpected argument %q", fs.Arg(0))
	}
	counts, err := parseCounts(*viewers)
	if err != nil {
		return err
	}
	report, runErr := loadtest.Run(ctx, loadtest.Config{
		URL: *url, Room: *room, Token: *token, Viewers: counts, Step: *step, Warmup: *warmup,
		BitrateKbps: *kbps, FPS: *fps, JoinBatch: *batch, LoopbackOnly: *loopback, Progress: stderr,
	})
	if report == nil { // invalid configuration
		return fmt.Errorf("loadtest: %w", runErr)
	}
	if len(report.Steps) > 0 || report.Baseline != nil {
		if err := report.WriteTable(stdout); err != nil {
			return err
		}
	}
	if *jsonPath != "" {
		if err := writeReport(*jsonPath, report); err != nil {
			return err
		}
	}
	if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: what was measured is printed, every session closed
	}
	if runErr != nil {
		return fmt.Errorf("loadtest: %w", runErr)
	}
	return nil
}

// parseCounts parses "1,100,300".
func parseCounts(s string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("viewers %q: want positive counts separated by commas, e.g. 1,100,300", s)
		}
		counts = append(counts, n)
	}
	return counts, nil
}

func writeReport(path string, r *loadtest.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if err := r.WriteJSON(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("json %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("json %s: %w", path, err)
	}
	return nil
}
