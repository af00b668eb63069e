package relay

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
)

// Shield defaults.
const (
	DefaultShieldMaxAge   = 30 * time.Second
	DefaultShieldMaxBytes = 256 << 20
	DefaultFetchTimeout   = 30 * time.Second
	// ShieldHopsHeader counts the shields a request went through (a locator that names a
	// node that names another... cannot loop).
	ShieldHopsHeader = "Glint-Shield-Hops"
	maxShieldBody    = 64 << 20 // a segment of a high rung is a few MB
)

// ShieldOptions configure a Shield.
type ShieldOptions struct {
	// Local serves the rooms whose ladder runs here (the node's hls.Server); Has says which.
	Local http.Handler
	Has   func(room string) bool
	// Locator names the node to fetch a room's LL-HLS from: its origin, or a node whose
	// Shield fetches it from there.
	Locator OriginLocator
	NodeID  string
	// Secret is the cluster secret, sent as a bearer token on every origin request: it grants
	// subscribe on every room, so an origin with access control on serves the shield (the
	// viewer's own credential was checked on this node, in front of the shield).
	Secret string
	Client *http.Client // nil: a client of the shield's own
	// MaxAge caps how long an answer is kept (0: DefaultShieldMaxAge); within it, an
	// answer is kept as long as its Cache-Control max-age says (immutable parts and
	// segments, blocking playlist reloads: seconds; a plain playlist: one second).
	MaxAge time.Duration
	// MaxBytes bounds the kept answers (0: DefaultShieldMaxBytes); the soonest to expire go
	// first.
	MaxBytes int64
	// FetchTimeout bounds one origin request, blocking reloads included (0: DefaultFetchTimeout).
	FetchTimeout time.Duration
	Logger       *slog.Logger
}

// Shield serves /hls/{room}/... on a node that does not transcode the room by fetching from
// the node that does: one origin request per URL at a time whatever the number of waiting
// clients (identical blocking reloads, _HLS_msn/_HLS_part, are one request, the block
// forwarded to the origin), answers kept per their Cache-Control, the origin's headers
// passed on (with Age). So every node is an origin shield for a CDN.
type Shield struct {
	opts   ShieldOptions
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex
	inflight map[string]*fetch
	cache    map[string]*answer
	bytes    int64

	fetches atomic.Int64 // origin requests
}

// answer is one origin response.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	fetched time.Time
	expires time.Time // zero: not kept
}

// fetch is one origin request that clients wait for.
type fetch struct {
	done chan struct{}
	ans  *answer
	err  error
}

// NewShield returns a Shield.
func NewShield(opts ShieldOptions) (*Shield, error) {
	if opts.Local == nil || opts.Has == nil || opts.Locator == nil {
		return nil, errors.New("relay shield: Local, Has and Locator are required")
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultShieldMaxAge
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultShieldMaxBytes
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Shield{opts: opts, log: opts.Logger.With("component", "hls-shield"), client: client,
		inflight: map[string]*fetch{}, cache: map[string]*answer{}}, nil
}

// Fetches is the number of requests sent to origins so far.
func (s *Shield) Fetches() int64 { return s.fetches.Load() }

// ServeHTTP serves the room locally when its ladder runs here (and preflights, errors of
// rooms live nowhere), else from its origin.
func (s *Shield) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/hls/")
	room, _, _ := strings.Cut(rest, "/")
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !config.ValidRoomName(room) || s.opts.Has(room) {
		s.opts.Local.ServeHTTP(w, r)
		return
	}
	hops, _ := strconv.Atoi(r.Header.Get(ShieldHopsHeader))
	if hops >= MaxHops {
		shieldFail(w, http.StatusLoopDetected, "hls shield: too many hops")
		return
	}
	node, base, ok, err := s.opts.Locator.Origin(r.Context(), room)
	switch {
	case err != nil:
		s.log.Warn("hls shield: locate room", "room", room, "err", err)
		shieldFail(w, http.StatusBadGateway, "hls shield: cannot locate the room's origin")
		return
	case !ok || node == s.opts.NodeID:
		s.opts.Local.ServeHTTP(w, r) // live nowhere else: the local 404
		return
	}
	ans, err := s.get(r.Context(), strings.TrimRight(base, "/"), r.URL.RequestURI(), hops+1)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("hls shield: origin request failed", "room", room, "origin", node, "err", err)
			shieldFail(w, http.StatusBadGateway, "hls shield: origin unavailable")
		}
		return
	}
	ans.write(w, r)
}

// get returns the answer for uri: kept, being fetched (waited for), or fetched now.
func (s *Shield) get(ctx context.Context, base, uri string, hops int) (*answer, error) {
	key := base + uri
	now := time.Now()
	s.mu.Lock()
	if a := s.cache[key]; a != nil && now.Before(a.expires) {
		s.mu.Unlock()
		return a, nil
	}
	f := s.inflight[key]
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		s.inflight[key] = f
		go s.fetch(key, base+uri, hops, f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.ans, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetch sends the one origin request for key and keeps its answer while it may be reused.
// It outlives the client that started it: others may be waiting.
func (s *Shield) fetch(key, url string, hops int, f *fetch) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.FetchTimeout)
	defer cancel()
	s.fetches.Add(1)
	f.ans, f.err = s.request(ctx, url, hops)
	s.mu.Lock()
	delete(s.inflight, key)
	if f.err == nil && !f.ans.expires.IsZero() {
		if old := s.cache[key]; old != nil {
			s.bytes -= int64(len(old.body))
		}
		s.cache[key] = f.ans
		s.bytes += int64(len(f.ans.body))
		s.evictLocked(time.Now())
	}
	s.mu.Unlock()
	close(f.done)
}

func (s *Shield) request(ctx context.Context, url string, hops int) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("hls shield: %w", err)
	}
	req.Header.Set(ShieldHopsHeader, strconv.Itoa(hops))
	if s.opts.Secret != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.Secret)
	}
	req.Header.Set("Accept-Encoding", "gzip") // kept as the origin compressed it (playlists)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hls shield: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxShieldBody+1))
	if err != nil {
		return nil, fmt.Errorf("hls shield: read %s: %w", url, err)
	}
	if len(body) > maxShieldBody {
		return nil, fmt.Errorf("hls shield: %s: answer over %d bytes", url, maxShieldBody)
	}
	now := time.Now()
	a := &answer{status: resp.StatusCode, header: resp.Header.Clone(), body: body, fetched: now}
	if ttl := keepFor(resp, s.opts.MaxAge); ttl > 0 {
		a.expires = now.Add(ttl)
	}
	return a, nil
}

// keepFor is how long a response may be reused: its max-age (capped) for a 200 that is
// neither no-store nor private, else 0.
func keepFor(resp *http.Response, maxAge time.Duration) time.Duration {
	if resp.StatusCode != http.StatusOK {
		return 0
	}
	var ttl time.Duration
	for _, d := range strings.Split(resp.Header.Get("Cache-Control"), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache", "private":
			return 0
		case "max-age":
			if n, err := strconv.Atoi(val); err == nil && n > 0 {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	return min(ttl, maxAge)
}

// evictLocked drops expired answers, then the soonest to expire while over MaxBytes.
func (s *Shield) evictLocked(now time.Time) {
	for k, a := range s.cache {
		if !now.Before(a.expires) {
			delete(s.cache, k)
			s.bytes -= int64(len(a.body))
		}
	}
	for s.bytes > s.opts.MaxBytes && len(s.cache) > 0 {
		var victim string
		var soonest time.Time
		for k, a := range s.cache {
			if victim == "" || a.expires.Before(soonest) {
				victim, soonest = k, a.expires
			}
		}
		s.bytes -= int64(len(s.cache[victim].body))
		delete(s.cache, victim)
	}
}

// write answers a client with the origin's answer, its headers kept (Age added): a gzipped
// playlist is sent as it is to clients that accept gzip and uncompressed to others; a 200
// honours Range and conditional requests.
func (a *answer) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range a.header {
		switch k {
		case "Content-Length", "Connection", "Keep-Alive", "Transfer-Encoding", "Date", "Age":
			continue
		}
		h[k] = v
	}
	upstreamAge, _ := strconv.Atoi(a.header.Get("Age")) // a shield above this one
	if age := upstreamAge + int(time.Since(a.fetched)/time.Second); age > 0 {
		h.Set("Age", strconv.Itoa(age))
	}
	body := a.body
	if h.Get("Content-Encoding") == "gzip" && !hls.AcceptsGzip(r.Header.Get("Accept-Encoding")) {
		plain, err := gunzip(body)
		if err != nil {
			shieldFail(w, http.StatusBadGateway, "hls shield: origin sent a broken gzip body")
			return
		}
		h.Del("Content-Encoding")
		body = plain
	}
	if a.status == http.StatusOK {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, maxShieldBody))
}

func shieldFail(w http.ResponseWriter, code int, reason string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(code)
	fmt.Fprintln(w, reason)
}
