package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// watchBuffer is how many events a watcher may fall behind before it loses the oldest.
const watchBuffer = 16

// Memory is the single-node Directory: claims live in this process. For sees the same
// claims as another node (several in-process nodes of a test sharing one directory).
type Memory struct {
	node string
	*memoryState
}

// memoryState is the claims and watchers that the Memory views of one directory share.
type memoryState struct {
	mu       sync.Mutex
	token    uint64
	claims   map[roomKind]Claim
	watchers map[string]map[*watcher]struct{} // by room
}

type roomKind struct {
	room string
	kind Kind
}

type watcher struct{ ch chan Event }

// NewMemory returns an empty in-memory Directory for node.
func NewMemory(node string) *Memory {
	return &Memory{node: node, memoryState: &memoryState{claims: map[roomKind]Claim{}, watchers: map[string]map[*watcher]struct{}{}}}
}

// For returns the directory as node sees it: the same claims, watchers and tokens, with
// node's id on the claims it grants.
func (m *Memory) For(node string) *Memory { return &Memory{node: node, memoryState: m.memoryState} }

// Node is the node id the Memory was created with.
func (m *Memory) Node() string { return m.node }

// Claim grants the room, or fails with a *ClaimedError unless req.Replace.
func (m *Memory) Claim(ctx context.Context, req Request) (Claim, error) {
	if err := ctx.Err(); err != nil {
		return Claim{}, fmt.Errorf("cluster: claim %q: %w", req.Room, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := roomKind{req.Room, req.Kind}
	if held, ok := m.claims[key]; ok && !req.Replace {
		return Claim{}, &ClaimedError{Owner: held}
	}
	m.token++
	c := Claim{Room: req.Room, Kind: req.Kind, Node: m.node, Holder: req.Holder, Token: m.token, Since: time.Now()}
	m.claims[key] = c
	m.notifyLocked(Event{Type: Claimed, Claim: c})
	return c, nil
}

// Release gives c's room up if c is still its claim.
func (m *Memory) Release(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := roomKind{c.Room, c.Kind}
	if held, ok := m.claims[key]; !ok || held.Token != c.Token {
		return fmt.Errorf("release %q by %s: %w", c.Room, c.Holder, ErrNotHolder)
	}
	delete(m.claims, key)
	m.notifyLocked(Event{Type: Released, Claim: c})
	return nil
}

// Owner returns the current claim of the room's kind.
func (m *Memory) Owner(_ context.Context, room string, kind Kind) (Claim, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.claims[roomKind{room, kind}]
	return c, ok, nil
}

// Watch reports the room's changes until ctx ends.
func (m *Memory) Watch(ctx context.Context, room string) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cluster: watch %q: %w", room, err)
	}
	w := &watcher{ch: make(chan Event, watchBuffer)}
	m.mu.Lock()
	if m.watchers[room] == nil {
		m.watchers[room] = map[*watcher]struct{}{}
	}
	m.watchers[room][w] = struct{}{}
	m.mu.Unlock()
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.watchers[room], w)
		if len(m.watchers[room]) == 0 {
			delete(m.watchers, room)
		}
		close(w.ch)
	})
	return w.ch, nil
}

// notifyLocked hands e to the room's watchers without blocking. Events are sent under
// m.mu, so each watcher sees them in order.
func (m *memoryState) notifyLocked(e Event) {
	for w := range m.watchers[e.Claim.Room] {
		sendLatest(w.ch, e)
	}
}

// sendLatest puts e on ch without blocking: when ch is full its oldest event is dropped.
// ch must have a single sender.
func sendLatest(ch chan Event, e Event) {
	select {
	case ch <- e:
	default:
		select {
		case <-ch:
		default:
		}
		ch <- e
	}
}
