package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/limits"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// admission is the node's admission control (package limits) built from the config: the
// rate limits in front of signaling, the per-client counts, readiness, and the admin check
// of the operator endpoints.
type admission struct {
	cfg      config.Limits
	ips      limits.ClientIPs
	rate     *limits.RateGuard
	sessions *limits.Counter // WHIP + WHEP sessions per client IP
	watchers *limits.Counter // event streams per client IP and on the node
	hlsWaits *limits.Counter // waiting LL-HLS requests per client IP
	ready    limits.Readiness
	// admin decides who may use the operator endpoints (/debug/pprof/). Until an auth
	// model sets it (an admin grant), only connections from this machine may.
	admin func(*http.Request) bool
}

func newAdmission(cfg config.Limits, log *slog.Logger) (*admission, error) {
	trusted, err := cfg.TrustedPrefixes()
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	exempt, err := cfg.ExemptPrefixes()
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	a := &admission{cfg: cfg, ips: limits.ClientIPs{Trusted: trusted, Exempt: exempt}, admin: limits.IsLoopback}
	tokenBurst := cfg.RateBurstPerToken
	if tokenBurst == 0 {
		tokenBurst = int(2 * cfg.RatePerToken)
	}
	a.rate = &limits.RateGuard{IPs: a.ips, Log: log, Applies: isSignaling,
		PerIP:    limits.NewRateLimiter(cfg.RatePerIP, cfg.RateBurstPerIP, 0),
		PerToken: limits.NewRateLimiter(cfg.RatePerToken, tokenBurst, 0)}
	a.sessions = limits.NewCounter("sessions_per_ip", "WHIP/WHEP sessions", cfg.SessionsPerIP, 0)
	a.watchers = limits.NewCounter("event_watchers", "event streams", cfg.EventWatchersPerIP, cfg.EventWatchers)
	a.hlsWaits = limits.NewCounter("hls_blocked_per_ip", "waiting LL-HLS requests", cfg.HLSBlockedPerIP, 0)
	return a, nil
}

// isSignaling tells the requests the signaling rate limits apply to: WHIP/WHEP offers,
// PATCH, DELETE and layer requests, and the API (not CORS preflights, not pages or media).
func isSignaling(r *http.Request) bool {
	if r.Method == http.MethodOptions {
		return false
	}
	p := r.URL.Path
	return strings.HasPrefix(p, "/whip/") || strings.HasPrefix(p, "/whep/") || strings.HasPrefix(p, "/api/")
}

func (a *admission) signaling() signaling.Admission {
	return signaling.Admission{ClientIP: a.ips.Key, Sessions: a.sessions, Watchers: a.watchers}
}

func (a *admission) sfuLimits() sfu.Limits {
	return sfu.Limits{Rooms: a.cfg.Rooms, ViewersPerRoom: a.cfg.ViewersPerRoom, Viewers: a.cfg.Viewers}
}

// limitHLS bounds the LL-HLS requests one client may have waiting.
func (a *admission) limitHLS(srv *hls.Server) {
	if a.hlsWaits == nil {
		return
	}
	srv.LimitWaiting(func(r *http.Request) (func(), error) { return a.hlsWaits.Acquire(a.ips.Key(r)) })
}

// handler wraps the node's mux: the access log (when on) sees every answer, the rate
// limits refuse floods before any work, the body deadline bounds slow bodies.
func (a *admission) handler(mux http.Handler, log *slog.Logger) http.Handler {
	h := a.rate.Handler(limits.BodyDeadline(mux, a.cfg.ReadTimeout))
	if a.cfg.AccessLog {
		h = accessLog(h, log, a.ips.Of)
	}
	return h
}

// addOperatorEndpoints serves /healthz (liveness: 200 while the process serves, also while
// draining), /readyz (readiness: 503 while draining or overloaded) and /debug/pprof/
// behind the admin check.
func (n *node) addOperatorEndpoints(media *sfu.SFU) {
	a := n.admission
	n.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	a.ready.AddCheck(func() (bool, string) { return media.Load().Full() })
	a.ready.AddCheck(limits.CounterFull(a.watchers))
	if a.cfg.ReadyMaxLoad > 0 {
		a.ready.AddCheck(limits.LoadCheck(a.cfg.ReadyMaxLoad))
	}
	n.mux.Handle("GET /readyz", &a.ready)
	admin := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !a.admin(r) {
				limits.WriteRefusal(w, &limits.Refusal{Kind: "admin", Status: http.StatusForbidden,
					Reason: "admin only"}, 0)
				return
			}
			h(w, r)
		})
	}
	n.mux.Handle("/debug/pprof/", admin(pprof.Index))
	n.mux.Handle("/debug/pprof/cmdline", admin(pprof.Cmdline))
	n.mux.Handle("/debug/pprof/profile", admin(pprof.Profile))
	n.mux.Handle("/debug/pprof/symbol", admin(pprof.Symbol))
	n.mux.Handle("/debug/pprof/trace", admin(pprof.Trace))
}
