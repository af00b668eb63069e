package limits

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateGuard applies the per-IP and per-token rate limits to the requests it applies to
// (signaling: WHIP/WHEP offers, PATCH, layer, the API): over a limit it answers 429 with
// Retry-After and the handler is not called.
type RateGuard struct {
	IPs      ClientIPs
	PerIP    *RateLimiter // nil: no per-IP limit
	PerToken *RateLimiter // nil: no per-token limit; keyed by a hash of the bearer token
	Applies  func(*http.Request) bool
	Log      *slog.Logger
}

// Handler wraps next with the guard.
func (g *RateGuard) Handler(next http.Handler) http.Handler {
	if g.PerIP == nil && g.PerToken == nil {
		return next
	}
	if g.Log == nil {
		g.Log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Applies != nil && !g.Applies(r) {
			next.ServeHTTP(w, r)
			return
		}
		ip := g.IPs.Key(r) // "" for an exempt client
		if ok, wait := g.PerIP.Allow(ip); !ok {
			g.refuse(w, r, "rate_per_ip", ip, wait)
			return
		}
		if tok := bearerToken(r); tok != "" && ip != "" {
			if ok, wait := g.PerToken.Allow(tokenKey(tok)); !ok {
				g.refuse(w, r, "rate_per_token", ip, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *RateGuard) refuse(w http.ResponseWriter, r *http.Request, kind, ip string, wait time.Duration) {
	g.Log.Debug("rate limited", "kind", kind, "remote", ip, "method", r.Method, "path", r.URL.Path)
	WriteRefusal(w, &Refusal{Kind: kind, Status: http.StatusTooManyRequests,
		Reason: "too many requests; slow down"}, wait)
}

// WriteRefusal answers a refusal as the signaling API answers errors ({"error": reason}),
// with Retry-After (whole seconds, at least 1) when retryAfter > 0 or the status is 429.
func WriteRefusal(w http.ResponseWriter, ref *Refusal, retryAfter time.Duration) {
	if retryAfter > 0 || ref.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(retryAfter)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ref.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": ref.Reason})
}

// bearerToken is the request's bearer token, if any.
func bearerToken(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}

// tokenKey is a fixed-size key for a token: the table never holds the secret itself, and
// a long token costs no more memory than a short one.
func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:12])
}
