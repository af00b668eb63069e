package cluster

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watch reports the room's changes until ctx ends, from the events the claim and release
// scripts publish. After every (re)subscription and once per lease period the room's
// owners are read again, so that what the channel could not tell (events missed while
// disconnected, a lease that expired without a release) still arrives, as the difference
// from what the watcher last saw.
func (r *Redis) Watch(ctx context.Context, room string) (<-chan Event, error) {
	subCtx, cancel := r.op(ctx)
	defer cancel()
	ps := r.rdb.Subscribe(ctx, r.eventChannel(room))
	if _, err := ps.Receive(subCtx); err != nil { // the subscription's confirmation
		_ = ps.Close()
		return nil, r.failed("watch "+room, err)
	}
	w := &roomWatch{r: r, room: room, ch: make(chan Event, watchBuffer), last: map[Kind]Claim{}}
	w.reconcile(ctx)
	go w.run(ctx, ps)
	return w.ch, nil
}

// roomWatch is one Watch: the events it sent, as the owners they leave the watcher with.
type roomWatch struct {
	r    *Redis
	room string
	ch   chan Event
	last map[Kind]Claim
}

func (w *roomWatch) run(ctx context.Context, ps *redis.PubSub) {
	defer close(w.ch)
	defer ps.Close()
	period := w.r.opts.Lease / 3
	lastCheck := time.Now()
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, period)
		switch m := msg.(type) {
		case *redis.Subscription: // subscribed again after a reconnect
			w.reconcile(ctx)
			lastCheck = time.Now()
		case *redis.Message:
			w.apply(m.Payload)
		}
		if err != nil && ctx.Err() == nil && !isTimeout(err) {
			w.r.metrics.errors.Inc()
			w.r.log.Debug("cluster watch: reconnecting", "room", w.room, "err", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(period):
			}
		}
		if time.Since(lastCheck) >= period {
			w.reconcile(ctx)
			lastCheck = time.Now()
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// apply turns a published "claimed|released kind value" into an event.
func (w *roomWatch) apply(payload string) {
	typ, rest, _ := strings.Cut(payload, " ")
	kind, value, _ := strings.Cut(rest, " ")
	c, err := decodeClaim(w.room, Kind(kind), value)
	if err != nil {
		w.r.log.Warn("cluster watch: unreadable event", "room", w.room, "event", payload)
		return
	}
	switch EventType(typ) {
	case Claimed:
		w.claimed(c)
	case Released:
		if w.last[c.Kind].Token == c.Token {
			delete(w.last, c.Kind)
			w.send(Event{Type: Released, Claim: c})
		}
	}
}

func (w *roomWatch) claimed(c Claim) {
	if prev, ok := w.last[c.Kind]; ok && prev.Token == c.Token {
		return
	}
	w.last[c.Kind] = c
	w.send(Event{Type: Claimed, Claim: c})
}

// reconcile reads the owners and sends what changed since the watcher's last event.
func (w *roomWatch) reconcile(ctx context.Context) {
	for _, kind := range []Kind{Publisher, Ingest} {
		c, ok, err := w.r.Owner(ctx, w.room, kind)
		if err != nil {
			return
		}
		prev, had := w.last[kind]
		switch {
		case ok:
			w.claimed(c)
		case had:
			delete(w.last, kind)
			w.send(Event{Type: Released, Claim: prev})
		}
	}
}

// send hands e to the watcher: one that fell behind loses its oldest event.
func (w *roomWatch) send(e Event) { sendLatest(w.ch, e) }
