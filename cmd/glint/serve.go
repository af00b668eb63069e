package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/glint-video/glint/config"
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
	n, err := newNode(cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	return n.run(ctx)
}

// run serves HTTP and runs the background services until ctx ends or the HTTP server
// fails, then shuts down in order: the streams end (HLS streams answer their blocked
// requests, recordings end), the DVR stores what it has queued, the HTTP server shuts
// down, the SFU closes every session.
func (n *node) run(ctx context.Context) error {
	cfg, log := n.cfg, n.log
	srv := newHTTPServer(n.admission.handler(n.auth.Protect(n.mux), log), cfg.TLS(), cfg.Limits)
	logAuthMode(cfg, log, n.auth, n.ln.Addr())
	log.Info("glint serving", "version", version, "http", n.ln.Addr().String(), "tls", cfg.TLS(), "media_port", n.sfu.MediaPort(),
		"ice_tcp", cfg.ICETCP, "publisher_policy", cfg.PublisherPolicy, "hls", cfg.HLS, "dvr", n.dvr != nil)
	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLS() {
			serveErr <- srv.ServeTLS(n.ln, cfg.TLSCert, cfg.TLSKey)
			return
		}
		serveErr <- srv.Serve(n.ln)
	}()
	var running sync.WaitGroup
	for _, service := range n.services {
		running.Go(func() { service(n.streamsCtx) })
	}
	defer n.endStreams()
	select {
	case err := <-serveErr:
		n.admission.ready.Drain()
		n.endStreams()
		running.Wait()
		_ = n.closeDVR(context.Background())
		_ = n.sfu.Close(context.Background())
		n.closeCluster()
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	n.admission.ready.Drain() // /readyz 503 from here; /healthz stays 200 until the listener closes
	n.drainBeforeShutdown()
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	n.endStreams()
	running.Wait()
	dvrErr := n.closeDVR(shutdownCtx)
	httpErr := srv.Shutdown(shutdownCtx)
	mediaErr := n.sfu.Close(shutdownCtx)
	n.closeCluster() // after the SFU has released its rooms
	log.Info("stopped")
	return errors.Join(dvrErr, httpErr, mediaErr)
}

// closeDVR drains the DVR's queue (until ctx ends) and closes it.
func (n *node) closeDVR(ctx context.Context) error {
	if n.dvr == nil {
		return nil
	}
	httpErr := n.dvrHTTP.Close(ctx) // clip jobs end and release their holds first
	return errors.Join(httpErr, n.dvr.Close(ctx))
}

// newHTTPServer returns the HTTP server of every endpoint. It speaks HTTP/1.1 and HTTP/2:
// over TLS negotiated by ALPN, in cleartext (h2c, prior knowledge) otherwise, which is what
// a CDN or load balancer in front of the origin uses for LL-HLS (many blocked playlist
// requests multiplexed on one connection). Its timeouts make it slowloris-safe: headers
// must arrive within ReadHeaderTimeout, idle connections close after IdleTimeout, and a
// request's body gets ReadTimeout (limits.BodyDeadline, in the handler).
func newHTTPServer(h http.Handler, tls bool, l config.Limits) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tls {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, IdleTimeout: l.IdleTimeout,
		MaxHeaderBytes: l.MaxHeaderBytes, Protocols: &protocols}
}
