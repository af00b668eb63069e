package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/hlsbridge"
	"github.com/glint-video/glint/ingest"
	"github.com/glint-video/glint/metrics"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
	"github.com/glint-video/glint/transcoder"
	"github.com/glint-video/glint/web"
)

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the server until ctx ends (SIGINT/SIGTERM), then shuts down gracefully: the
// listener stops accepting, every session is closed, in-flight requests finish.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := config.Load(args, os.Getenv, stderr)
	if errors.Is(err, config.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(cfg, stderr)
	media, err := sfu.New(sfu.Options{
		Transport: sfu.TransportConfig{
			UDPPort: cfg.UDPPort, ICETCP: cfg.ICETCP, PublicIPs: cfg.PublicIPs, ICEIPs: cfg.ICEIPs,
			ICEInterfaces: cfg.ICEInterfaces, ReadBuffer: cfg.UDPReadBuffer, ICETimeout: cfg.ICETimeout,
		},
		PLIInterval:      cfg.PLIInterval,
		ReplacePublisher: cfg.PublisherPolicy == config.PolicyReplace,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	streamsCtx, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	mux := http.NewServeMux()
	signaling.New(signaling.Options{
		SFU: media, RoomTokens: cfg.RoomTokens, ICEServers: cfg.ICEServers, CORSOrigin: cfg.CORSOrigin,
		Logger: log, Context: streamsCtx,
	}).Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/", web.Handler())
	// Background services run until streamsCtx ends: the LL-HLS bridges (stopping them ends
	// every HLS stream, which answers blocked playlist requests before the HTTP shutdown) and
	// RTMP/SRT ingest.
	var services []func(context.Context)
	var collectors []prometheus.Collector
	if cfg.HLS {
		hlsServer := hls.NewServer(log)
		mux.Handle("/hls/", hlsServer)
		bridges, err := hlsbridge.NewManager(hlsbridge.Options{SFU: media, Server: hlsServer, Log: log,
			HLS:        hls.Config{SegmentDuration: cfg.HLSSegment, PartDuration: cfg.HLSPart},
			RoomLadder: roomLadder(cfg)})
		if err != nil {
			_ = media.Close(context.Background())
			return err
		}
		services = append(services, func(ctx context.Context) { _ = bridges.Run(ctx) })
		mux.HandleFunc("GET /api/hls", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, hlsStatus(bridges))
		})
		collectors = append(collectors, metrics.NewEncoderCollector(func() (string, bool) {
			enc := bridges.Encoder()
			return enc.Name, enc.Hardware
		}))
	}
	mux.Handle("GET /metrics", metrics.Handler(media, collectors...))
	if cfg.RTMPAddr != "" || cfg.SRTAddr != "" {
		in, err := ingest.New(ingest.Config{RTMPAddr: cfg.RTMPAddr, SRTAddr: cfg.SRTAddr, StreamKeys: cfg.StreamKeys,
			Passphrase: cfg.SRTPassphrase, Log: log}, media)
		if err != nil {
			_ = media.Close(context.Background())
			return fmt.Errorf("ingest: %w", err)
		}
		mux.HandleFunc("GET /api/ingest", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, in.Status()) })
		log.Info("ingest listening", "rtmp", in.RTMPAddr(), "srt", in.SRTAddr())
		services = append(services, func(ctx context.Context) { _ = in.Serve(ctx) })
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		_ = media.Close(context.Background())
		return fmt.Errorf("http listen %s: %w", cfg.HTTPAddr, err)
	}
	srv := newHTTPServer(mux, cfg.TLS())
	log.Info("glint serving", "version", version, "http", ln.Addr().String(), "tls", cfg.TLS(), "media_port", media.MediaPort(),
		"ice_tcp", cfg.ICETCP, "publisher_policy", cfg.PublisherPolicy, "hls", cfg.HLS)
	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLS() {
			serveErr <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	var running sync.WaitGroup
	for _, run := range services {
		running.Add(1)
		go func() { defer running.Done(); run(streamsCtx) }()
	}

	select {
	case err := <-serveErr:
		endStreams()
		running.Wait()
		_ = media.Close(context.Background())
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	endStreams()
	running.Wait()
	httpErr := srv.Shutdown(shutdownCtx)
	mediaErr := media.Close(shutdownCtx)
	log.Info("stopped")
	return errors.Join(httpErr, mediaErr)
}

// newHTTPServer returns the HTTP server of every endpoint. It speaks HTTP/1.1 and HTTP/2:
// over TLS negotiated by ALPN, in cleartext (h2c, prior knowledge) otherwise, which is what
// a CDN or load balancer in front of the origin uses for LL-HLS (many blocked playlist
// requests multiplexed on one connection).
func newHTTPServer(h http.Handler, tls bool) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tls {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: &protocols}
}

// hlsStatusBody is GET /api/hls: the H.264 encoder of the LL-HLS ladder (probed at start;
// empty until then, or when none is usable) and the rooms with a running bridge.
type hlsStatusBody struct {
	Encoder  string   `json:"encoder"`
	Hardware bool     `json:"hardware"`
	Rooms    []string `json:"rooms"`
}

func hlsStatus(m *hlsbridge.Manager) hlsStatusBody {
	enc := m.Encoder()
	return hlsStatusBody{Encoder: enc.Name, Hardware: enc.Hardware, Rooms: m.Rooms()}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// roomLadder chooses a room's LL-HLS rungs: its configured ladder (hls_room_ladders, else
// --hls-ladder), or the built-in default.
func roomLadder(cfg config.Config) func(room string, w, h int, codec string) []transcoder.Rung {
	return func(room string, w, h int, _ string) []transcoder.Rung {
		l, ok := cfg.LadderFor(room)
		if !ok {
			return transcoder.DefaultLadder(w, h)
		}
		specs := make([]transcoder.RungSpec, len(l.Rungs))
		for i, r := range l.Rungs {
			specs[i] = transcoder.RungSpec{Height: r.Height, BitrateKbps: r.Kbps}
		}
		return transcoder.CustomLadder(w, h, l.Source, specs)
	}
}
