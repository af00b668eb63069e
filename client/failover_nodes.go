package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// defaultBackoff is the watch page's wait before each attempt (web/static/failover.js):
// 250 ms, 500 ms, 1 s, 2 s, 4 s, then every 5 s, from 250 ms again once a session connects.
var defaultBackoff = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2 * time.Second, 4 * time.Second, 5 * time.Second}

// nodeList is which node a failover viewer plays from and which others it knows, with the
// backoff of its attempts: the Go twin of failover.js's Failover class.
type nodeList struct {
	backoff []time.Duration

	mu       sync.Mutex
	urls     []string // node base URLs without a trailing slash; urls[0] is the first node
	index    int      // the current node
	failures int      // attempts since the last connected session
	moves    int      // changes of node
}

func newNodeList(first string, backoff []time.Duration) *nodeList {
	return &nodeList{backoff: backoff, urls: []string{first}}
}

// nodeBase turns a node's URL (http[s]://host[:port][/prefix]) into the base its paths are
// joined to: no trailing slash, no query, no fragment.
func nodeBase(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("node URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("node URL %q: want http[s]://host[:port]", raw)
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// splitWHEP splits a WHEP endpoint (http://host:port[/prefix]/whep/{room}[?query]) into its
// node's base URL and the path every node serves the room at ("whep/{room}[?query]").
func splitWHEP(whepURL string) (base, path string, err error) {
	u, err := url.Parse(whepURL)
	if err != nil {
		return "", "", fmt.Errorf("WHEP URL %q: %w", whepURL, err)
	}
	i := strings.LastIndex(u.Path, "/whep/")
	if i < 0 || len(u.Path) == i+len("/whep/") {
		return "", "", fmt.Errorf("WHEP URL %q: want http[s]://host[:port]/whep/{room}", whepURL)
	}
	path = u.Path[i+1:]
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	u.Path = u.Path[:i]
	base, err = nodeBase(u.String())
	return base, path, err
}

// add appends the nodes the list does not know yet, skipping URLs that do not parse.
func (l *nodeList) add(urls ...string) (added int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, raw := range urls {
		b, err := nodeBase(raw)
		if err != nil || slices.Contains(l.urls, b) {
			continue
		}
		l.urls = append(l.urls, b)
		added++
	}
	return added
}

func (l *nodeList) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.urls[l.index]
}

func (l *nodeList) known() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.urls...)
}

func (l *nodeList) moveCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.moves
}

// move goes to the next node, round robin (alone: stays), and returns the delay before the
// next attempt.
func (l *nodeList) move() (from, to string, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	from = l.urls[l.index]
	l.index = (l.index + 1) % len(l.urls)
	if l.urls[l.index] != from {
		l.moves++
	}
	return from, l.urls[l.index], l.nextDelay()
}

// delay is the wait before the next attempt on the current node; each call backs off further.
func (l *nodeList) delay() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextDelay()
}

func (l *nodeList) nextDelay() time.Duration {
	d := l.backoff[min(l.failures, len(l.backoff)-1)]
	l.failures++
	return d
}

// connected resets the backoff.
func (l *nodeList) connected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = 0
}

// nodeProber asks nodes whether they live and which other nodes they know.
type nodeProber struct {
	client  *http.Client
	timeout time.Duration
	auth    func(*http.Request)
}

// alive GETs node's /healthz: any answer will do; only a refused connection or silence past
// the timeout means the node is gone (the page's checkNode).
func (p nodeProber) alive(ctx context.Context, node string) bool {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, node+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyBytes))
	_ = resp.Body.Close()
	return true
}

// nodes GETs node's /api/nodes (the cluster registry, docs/cluster.md) and returns the URLs
// it lists.
func (p nodeProber) nodes(ctx context.Context, node string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, node+"/api/nodes", nil)
	if err != nil {
		return nil, fmt.Errorf("node list: %w", err)
	}
	p.auth(req)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node list: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("node list: read %s: %w", req.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("node list: GET %s: %w", req.URL, &HTTPError{Status: resp.StatusCode, Body: string(body)})
	}
	var entries []struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, fmt.Errorf("node list: GET %s: %w", req.URL, err)
	}
	urls := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.URL != "" {
			urls = append(urls, e.URL)
		}
	}
	return urls, nil
}
