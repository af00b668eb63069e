package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Webhook defaults: how long an answer may take (a timeout denies) and how long an answer
// is reused for the same action, room and credential.
const (
	DefaultWebhookTimeout  = 2 * time.Second
	DefaultWebhookCacheTTL = 30 * time.Second
	webhookCacheMax        = 10000
)

// WebhookRequest is the JSON body POSTed to the authorization webhook.
type WebhookRequest struct {
	Action   string `json:"action"` // "publish" or "play"
	Room     string `json:"room"`
	Protocol string `json:"protocol"` // whip, whep, hls, dvr, events, rtmp, srt
	IP       string `json:"ip"`
	Token    string `json:"token,omitempty"`
}

// webhook asks an external HTTP endpoint: 2xx allows, 4xx denies, anything else (or no
// answer within the timeout) denies and is logged. Its 2xx and 4xx answers are cached per
// (action, room, credential) for the cache TTL; failures are not, so the next request asks
// again.
type webhook struct {
	url    string
	client *http.Client
	ttl    time.Duration
	log    *slog.Logger
	now    func() time.Time

	mu    sync.Mutex
	cache map[webhookKey]webhookAnswer
}

type webhookKey struct{ action, room, token string }

type webhookAnswer struct {
	allow   bool
	cached  bool // a 2xx or 4xx answer, kept for the TTL
	reason  string
	expires time.Time
}

func newWebhook(url string, timeout, ttl time.Duration, log *slog.Logger, now func() time.Time) *webhook {
	return &webhook{url: url, client: &http.Client{Timeout: timeout}, ttl: ttl, log: log, now: now,
		cache: map[webhookKey]webhookAnswer{}}
}

// ask returns nil when the webhook allows req, else a 401 (no credential) or 403.
func (wh *webhook) ask(ctx context.Context, req WebhookRequest) error {
	key := webhookKey{req.Action, req.Room, req.Token}
	now := wh.now()
	wh.mu.Lock()
	a, ok := wh.cache[key]
	wh.mu.Unlock()
	if !ok || !now.Before(a.expires) {
		a = wh.call(ctx, req)
		if a.cached {
			a.expires = now.Add(wh.ttl)
			wh.remember(key, a, now)
		}
	}
	switch {
	case a.allow:
		return nil
	case req.Token == "":
		return unauthorized(DenyWebhook, "%s of room %q needs a token: %s", req.Action, req.Room, a.reason)
	default:
		return forbidden(DenyWebhook, "%s of room %q: %s", req.Action, req.Room, a.reason)
	}
}

func (wh *webhook) remember(key webhookKey, a webhookAnswer, now time.Time) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if len(wh.cache) >= webhookCacheMax {
		for k, old := range wh.cache {
			if !now.Before(old.expires) {
				delete(wh.cache, k)
			}
		}
	}
	if len(wh.cache) < webhookCacheMax {
		wh.cache[key] = a
	}
}

// call posts req; the answer's first line (at most 200 bytes) is the deny reason.
func (wh *webhook) call(ctx context.Context, req WebhookRequest) webhookAnswer {
	body, _ := json.Marshal(req)
	// Not the caller's cancellation: the answer is cached for others; the client's timeout bounds it.
	hreq, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, wh.url, bytes.NewReader(body))
	if err != nil {
		return webhookAnswer{reason: "authorization webhook unusable"}
	}
	hreq.Header.Set("Content-Type", "application/json")
	log := wh.log.With("room", req.Room, "action", req.Action, "protocol", req.Protocol, "ip", req.IP)
	resp, err := wh.client.Do(hreq)
	if err != nil {
		var timeout interface{ Timeout() bool }
		if errors.As(err, &timeout) && timeout.Timeout() {
			log.Warn("auth: webhook timed out: denied", "timeout", wh.client.Timeout)
			return webhookAnswer{reason: "authorization webhook timed out"}
		}
		log.Warn("auth: webhook failed: denied", "err", err)
		return webhookAnswer{reason: "authorization webhook unreachable"}
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return webhookAnswer{allow: true, cached: true}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		reason := firstLineOf(string(text))
		if reason == "" {
			reason = fmt.Sprintf("denied by the authorization webhook (%d)", resp.StatusCode)
		}
		return webhookAnswer{reason: reason, cached: true}
	}
	log.Warn("auth: webhook answered an error: denied", "status", resp.StatusCode)
	return webhookAnswer{reason: fmt.Sprintf("authorization webhook answered %d", resp.StatusCode)}
}

func firstLineOf(s string) string {
	for i, c := range s {
		if c == '\n' || c == '\r' {
			return s[:i]
		}
	}
	return s
}
