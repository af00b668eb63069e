package dashboard

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Record is one recent WARN or ERROR log line.
type Record struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"msg"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// RecentErrors keeps the latest WARN and ERROR records of a logger in a bounded ring, for the
// dashboard. Wrap the node's handler with Handler; every record still goes to it.
type RecentErrors struct {
	mu   sync.Mutex
	ring []Record
	next int
	full bool
}

// NewRecentErrors keeps the last n records (n ≥ 1).
func NewRecentErrors(n int) *RecentErrors {
	return &RecentErrors{ring: make([]Record, max(n, 1))}
}

// Records returns the kept records, newest first.
func (r *RecentErrors) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.ring)
	}
	out := make([]Record, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.ring[(r.next-i+len(r.ring))%len(r.ring)])
	}
	return out
}

func (r *RecentErrors) add(rec Record) {
	r.mu.Lock()
	r.ring[r.next] = rec
	r.next = (r.next + 1) % len(r.ring)
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

// Handler wraps next: records at WARN and above are also kept here.
func (r *RecentErrors) Handler(next slog.Handler) slog.Handler {
	return &recentHandler{next: next, recent: r}
}

// recentHandler is the slog.Handler of RecentErrors.Handler: attrs and groups added with
// WithAttrs/WithGroup are kept (flattened, "group.key") for the records it keeps.
type recentHandler struct {
	next   slog.Handler
	recent *RecentErrors
	attrs  []slog.Attr // with their group prefix in the key
	group  string      // the current group prefix ("a.b."), for later attrs
}

func (h *recentHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *recentHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		kept := Record{Time: rec.Time, Level: rec.Level.String(), Message: rec.Message, Attrs: map[string]string{}}
		for _, a := range h.attrs {
			kept.Attrs[a.Key] = a.Value.String()
		}
		rec.Attrs(func(a slog.Attr) bool {
			flatten(kept.Attrs, h.group, a)
			return true
		})
		h.recent.add(kept)
	}
	if !h.next.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.next.Handle(ctx, rec)
}

// flatten puts a (and a group's members) into m under prefixed keys.
func flatten(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			flatten(m, p, g)
		}
		return
	}
	if a.Key != "" {
		m[prefix+a.Key] = v.String()
	}
}

func (h *recentHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	flat := map[string]string{}
	for _, a := range attrs {
		flatten(flat, h.group, a)
	}
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for k, v := range flat {
		c.attrs = append(c.attrs, slog.String(k, v))
	}
	c.next = h.next.WithAttrs(attrs)
	return &c
}

func (h *recentHandler) WithGroup(name string) slog.Handler {
	if strings.TrimSpace(name) == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	c.next = h.next.WithGroup(name)
	return &c
}
