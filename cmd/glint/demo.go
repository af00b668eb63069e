package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/demo"
)

// runDemo publishes the demo test pattern until ctx ends.
func runDemo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("glint demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/whip/demo", "WHIP endpoint to publish to")
	token := fs.String("token", "", "bearer token of the room, if it has one")
	size := fs.String("size", "1280x720", "video size WxH")
	fps := fs.Int("fps", 30, "frames per second")
	kbps := fs.Int("bitrate", 1500, "video bitrate in kbit/s")
	ffmpeg := fs.String("ffmpeg", "ffmpeg", "ffmpeg binary")
	loopback := fs.Bool("loopback", false, "use only 127.0.0.1 ICE candidates (server on this machine)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	countdown := fs.Duration("countdown", 0, "post a countdown timed event to the room this often, e.g. 10s (0: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	w, h, err := config.ParseSize(*size)
	if err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("log-level %q: %w", *level, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})).With("component", "demo")
	err = demo.Run(ctx, demo.Options{
		WHIPURL: *url, Token: *token, Width: w, Height: h, FPS: *fps, BitrateKbps: *kbps,
		FFmpeg: *ffmpeg, Logger: log, LoopbackOnly: *loopback, CountdownEvery: *countdown,
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
