package cluster

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// DefaultHeartbeat is how often a node reports itself in the registry.
const DefaultHeartbeat = 2 * time.Second

// MemoryRegistry is a Registry in this process: the nodes of one process (a single node,
// or the in-process nodes of a test) share one. An entry expires TTL after its last
// heartbeat.
type MemoryRegistry struct {
	// Heartbeat is how often Register refreshes an entry (DefaultHeartbeat when 0); TTL
	// how long an entry lives without one (3 heartbeats when 0). Set before use.
	Heartbeat, TTL time.Duration

	mu    sync.Mutex
	nodes map[string]NodeInfo
}

// NewMemoryRegistry returns an empty MemoryRegistry.
func NewMemoryRegistry() *MemoryRegistry { return &MemoryRegistry{nodes: map[string]NodeInfo{}} }

func (m *MemoryRegistry) heartbeat() time.Duration { return cmp.Or(m.Heartbeat, DefaultHeartbeat) }
func (m *MemoryRegistry) ttl() time.Duration       { return cmp.Or(m.TTL, 3*m.heartbeat()) }

// Register announces self until ctx ends.
func (m *MemoryRegistry) Register(ctx context.Context, self NodeInfo, load LoadFunc) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cluster: register %q: %w", self.ID, err)
	}
	beat := func() {
		self.Seen = time.Now()
		if load != nil {
			self.Load = load()
		}
		m.mu.Lock()
		m.nodes[self.ID] = self
		m.mu.Unlock()
	}
	beat()
	go func() {
		t := time.NewTicker(m.heartbeat())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				m.mu.Lock()
				delete(m.nodes, self.ID)
				m.mu.Unlock()
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return nil
}

// Nodes returns the live nodes by ID.
func (m *MemoryRegistry) Nodes(_ context.Context) ([]NodeInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []NodeInfo
	for _, id := range slices.Sorted(maps.Keys(m.nodes)) {
		if n := m.nodes[id]; time.Since(n.Seen) <= m.ttl() {
			out = append(out, n)
		}
	}
	return out, nil
}

// Node returns the live node id.
func (m *MemoryRegistry) Node(_ context.Context, id string) (NodeInfo, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok || time.Since(n.Seen) > m.ttl() {
		return NodeInfo{}, false, nil
	}
	return n, true, nil
}

// RoomViewers returns the viewers of room per live node.
func (m *MemoryRegistry) RoomViewers(ctx context.Context, room string) (map[string]int, error) {
	nodes, _ := m.Nodes(ctx)
	out := map[string]int{}
	for _, n := range nodes {
		if v := n.Load.RoomViewers[room]; v > 0 {
			out[n.ID] = v
		}
	}
	return out, nil
}
