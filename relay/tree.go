package relay

import (
	"cmp"
	"context"
	"slices"

	"github.com/glint-video/glint/cluster"
)

// The relay tree (docs/cluster-relay.md, "Choosing a parent"): a node that needs a relay of a
// room picks its parent among the room's origin and the nodes that relay the room already,
// from the cluster registry's heartbeats. The origin while it has fan-out to spare and is not
// overloaded; else the least-loaded relaying node with fan-out to spare, never one below this
// node in the tree; else the origin all the same (the fan-out is a preference, never a
// refusal). The parent's own room info (fetched before the relay's offer anyway) confirms
// that it still has fan-out to spare, since the heartbeats may be a couple of seconds old.

// Defaults of the tree.
const (
	// DefaultFanout is how many relays of one room a node serves before the nodes that need
	// one look for another parent.
	DefaultFanout = 8
	// OverloadedCPU is the busy share of its cores above which a node is nobody's choice of
	// parent (the origin remains the last resort).
	OverloadedCPU = 0.85
	// maxParentTries bounds the relaying nodes tried, one after the other, before the origin.
	maxParentTries = 3
)

// parent is a node a relay may pull a room from.
type parent struct {
	id, url string
	depth   int // this node's depth in the tree when relaying from it
	// fanout is the parent's own limit; confirm asks its room info whether it still has
	// room for one more relay (false for the last resort).
	fanout  int
	confirm bool
}

// treeView is what a parent is chosen from: the registry's nodes and the room's origin.
type treeView struct {
	self, room string
	hops       int    // relays below this node in the chain asking (Glint-Relay-Hops)
	avoid      string // a parent whose session just ended (not chosen again at once)
	fanout     int    // the limit of a node that advertises none
	origin     cluster.NodeInfo
	nodes      map[string]cluster.NodeInfo
}

// parents orders the nodes to try for room's relay: the choice first, the origin last.
func (m *Manager) parents(ctx context.Context, rr *roomRelay, originID, originURL string) []parent {
	last := parent{id: originID, url: originURL, depth: 1}
	if m.opts.Registry == nil {
		return []parent{last}
	}
	list, err := m.opts.Registry.Nodes(ctx)
	if err != nil {
		m.log.Warn("relay tree: registry unavailable; relaying from the origin", "room", rr.room, "err", err.Error())
		return []parent{last}
	}
	v := treeView{self: m.opts.NodeID, room: rr.room, hops: rr.hops, avoid: rr.avoid, fanout: m.opts.Fanout,
		origin: cluster.NodeInfo{ID: originID, URL: originURL}, nodes: make(map[string]cluster.NodeInfo, len(list))}
	for _, n := range list {
		v.nodes[n.ID] = n
	}
	if n, ok := v.nodes[originID]; ok {
		v.origin.Load = n.Load
	}
	return v.choose()
}

// choose ranks the parents: the origin first when it has fan-out to spare, else the
// relaying nodes that have (least loaded first), and the origin as the last resort.
func (v treeView) choose() []parent {
	origin := parent{id: v.origin.ID, url: v.origin.URL, depth: 1, fanout: v.fanoutOf(v.origin)}
	var out []parent
	if v.spare(v.origin) {
		origin.confirm = true
		out = append(out, origin)
	}
	var relaying []cluster.NodeInfo
	for _, n := range v.nodes {
		if link, ok := n.Load.Relays[v.room]; ok && v.eligible(n, link) && v.spare(n) {
			relaying = append(relaying, n)
		}
	}
	slices.SortFunc(relaying, func(a, b cluster.NodeInfo) int {
		return cmp.Or(cmp.Compare(int(a.Load.CPU*10), int(b.Load.CPU*10)), // CPU in steps of 10 %
			cmp.Compare(a.Load.Relays[v.room].Depth, b.Load.Relays[v.room].Depth),
			cmp.Compare(a.Load.RelaysOut[v.room], b.Load.RelaysOut[v.room]),
			cmp.Compare(a.ID, b.ID))
	})
	for _, n := range relaying[:min(len(relaying), maxParentTries)] {
		out = append(out, parent{id: n.ID, url: n.URL, depth: n.Load.Relays[v.room].Depth + 1, fanout: v.fanoutOf(n), confirm: true})
	}
	origin.confirm = false
	return append(out, origin)
}

// spare reports whether n may take one more relay of the room: fan-out left, CPU below
// OverloadedCPU.
func (v treeView) spare(n cluster.NodeInfo) bool {
	return n.Load.RelaysOut[v.room] < v.fanoutOf(n) && n.Load.CPU < OverloadedCPU
}

func (v treeView) fanoutOf(n cluster.NodeInfo) int {
	return cmp.Or(n.Load.RelayFanout, v.fanout, DefaultFanout)
}

// eligible reports whether relaying node n may be this node's parent: not this node, nor
// the one to avoid, its chain of parents leads to the origin without passing through this
// node (no cycle), and the chain stays below MaxHops with the relays asking below this one.
func (v treeView) eligible(n cluster.NodeInfo, link cluster.RelayLink) bool {
	if n.ID == v.self || n.ID == v.origin.ID || n.ID == v.avoid || link.Depth+1+v.hops >= MaxHops {
		return false
	}
	cur := link
	for range MaxHops {
		switch cur.Parent {
		case v.self:
			return false // n relays from this node, directly or through others
		case v.origin.ID:
			return true
		}
		up, ok := v.nodes[cur.Parent]
		if !ok {
			return false // its parent is gone: n is re-attaching
		}
		if cur, ok = up.Load.Relays[v.room]; !ok {
			return false
		}
	}
	return false // a loop among stale entries
}

// AddLoad adds the relay tree's part of this node's load for its heartbeat: the rooms it
// relays (parent and depth, while connected), the relays it serves per room, its fan-out.
func (m *Manager) AddLoad(l *cluster.Load) {
	l.RelayFanout = m.opts.Fanout
	l.RelaysOut, l.Relays = map[string]int{}, map[string]cluster.RelayLink{}
	for _, r := range m.opts.SFU.Rooms() {
		if r.Relays > 0 {
			l.RelaysOut[r.Name] = r.Relays
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for room, rr := range m.relays {
		if link := rr.link.Load(); link != nil {
			l.Relays[room] = *link
		}
	}
}
