// Command llhlsbench measures Glint's LL-HLS latency end to end: it publishes a looped,
// pre-encoded H.264 + Opus clip over WHIP whose every access unit carries a capture-time
// SEI, runs LL-HLS viewers (package llhls: blocking playlist reloads, preload-hinted part
// downloads) on chosen renditions, and prints a markdown table of capture → part available
// on the origin and capture → frame downloaded, p50 and p95, per rendition. It is the
// engine of scripts/bench/40-llhls.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/glint-video/glint/loadtest/llhls"
)

type options struct {
	url, room, size string
	renditions      []string
	viewers, fps    int
	kbps            int
	warmup, measure time.Duration
	trace           string
	serverPID       int
}

func main() {
	var o options
	var renditions string
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base URL of the Glint server")
	flag.StringVar(&o.room, "room", "llhls", "room to publish to")
	flag.StringVar(&o.size, "size", "1280x720", "picture size of the published clip")
	flag.IntVar(&o.fps, "fps", 30, "frames per second")
	flag.IntVar(&o.kbps, "bitrate", 2500, "video bitrate, kbit/s")
	flag.StringVar(&renditions, "renditions", "source,360p", "renditions to watch (variant URI substrings)")
	flag.IntVar(&o.viewers, "viewers", 3, "LL-HLS viewers per rendition")
	flag.DurationVar(&o.warmup, "warmup", 6*time.Second, "time after the viewers start before measuring (joins, catch-up)")
	flag.DurationVar(&o.measure, "duration", 20*time.Second, "measurement time")
	flag.StringVar(&o.trace, "trace", "", "also write every part measured (rendition, viewer, arrival, latency) to this file")
	flag.IntVar(&o.serverPID, "server-pid", 0, "PID of the server on this machine, to report its CPU while measuring")
	flag.Parse()
	o.renditions = strings.Split(renditions, ",")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		fmt.Fprintln(os.Stderr, "llhlsbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "llhlsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log.Info("llhlsbench: encoding the clip", "size", o.size, "fps", o.fps, "kbps", o.kbps)
	src, err := encodeSource(ctx, dir, o.size, o.fps, o.kbps, 10*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	pubErr := make(chan error, 1)
	wg.Go(func() { pubErr <- publish(ctx, o.url+"/whip/"+o.room, src, log) })
	if err := waitLive(ctx, o, pubErr); err != nil {
		return err
	}
	httpClient := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer httpClient.CloseIdleConnections()
	stats := make([]*renditionStats, len(o.renditions))
	cpu0, start := processCPU(), time.Now()
	measureFrom := start.Add(o.warmup)
	for i, r := range o.renditions {
		stats[i] = &renditionStats{name: r, from: measureFrom}
		for v := range o.viewers {
			wg.Go(func() { stats[i].view(ctx, o, r, v, httpClient, log) })
		}
	}
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case err := <-pubErr:
			return fmt.Errorf("publisher stopped: %v", err)
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(o.warmup); err != nil {
		return err
	}
	srv0, srvOK := serverCPU(o.serverPID)
	measured := time.Now()
	if err := wait(o.measure); err != nil {
		return err
	}
	srv1, srvOK1 := serverCPU(o.serverPID)
	srvCPU := -1.0
	if srvOK && srvOK1 {
		srvCPU = float64(srv1-srv0) / float64(time.Since(measured)) * 100
	}
	genCPU := float64(processCPU()-cpu0) / float64(time.Since(start)) * 100
	cancel()
	wg.Wait()
	printTable(o, stats, genCPU, srvCPU)
	if o.trace != "" {
		return writeTrace(o.trace, stats)
	}
	return nil
}

// waitLive waits until the room's multivariant playlist lists every rendition to watch.
func waitLive(ctx context.Context, o options, pubErr <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.url+"/hls/"+o.room+"/index.m3u8", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			var b strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := res.Body.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					break
				}
			}
			res.Body.Close()
			all := res.StatusCode == http.StatusOK
			for _, r := range o.renditions {
				all = all && strings.Contains(b.String(), r)
			}
			if all {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/hls/%s/index.m3u8 does not list %v after 60 s", o.url, o.room, o.renditions)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-pubErr:
			return fmt.Errorf("publisher: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// processCPU returns the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// view runs one LL-HLS viewer of rendition r until ctx ends.
func (s *renditionStats) view(ctx context.Context, o options, r string, id int, hc *http.Client, log *slog.Logger) {
	started := time.Now()
	var part partTracker
	err := llhls.Run(ctx, llhls.Config{URL: o.url + "/hls/" + o.room + "/index.m3u8", Rendition: r, HTTPClient: hc,
		Logger: log.With("viewer", id, "rendition", r),
		OnJoin: func(at time.Time) { s.addJoin(at.Sub(started)) },
		OnFrame: func(f llhls.Frame) {
			if last, ok := part.next(f); ok {
				s.addPart(id, last)
			}
			s.addFrame(f)
		}})
	if err != nil && ctx.Err() == nil {
		log.Error("llhlsbench: viewer failed", "viewer", id, "rendition", r, "err", err)
	}
}
