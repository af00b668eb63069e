package relay

import (
	"slices"
	"testing"

	"github.com/glint-video/glint/cluster"
)

// node is a registry entry for the table: the room "r" relayed from parent at depth (none
// when parent is ""), out relays served, cpu.
func node(id, parent string, depth, out int, cpu float64) cluster.NodeInfo {
	l := cluster.Load{CPU: cpu, RelaysOut: map[string]int{"r": out}}
	if parent != "" {
		l.Relays = map[string]cluster.RelayLink{"r": {Parent: parent, Depth: depth}}
	}
	return cluster.NodeInfo{ID: id, URL: "http://" + id, Load: l}
}

// TestTreeChoice: the order in which a node tries parents for room r, the origin "a" last.
func TestTreeChoice(t *testing.T) {
	withFanout := func(n cluster.NodeInfo, f int) cluster.NodeInfo { n.Load.RelayFanout = f; return n }
	for _, tc := range []struct {
		name  string
		self  string
		hops  int
		avoid string
		nodes []cluster.NodeInfo
		want  []string // ids tried, "+" when the parent's room info is checked for fan-out
	}{
		{"origin with fan-out to spare", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 1, 0.1), node("b", "a", 1, 0, 0.1)},
			[]string{"a+", "b+", "a"}},
		{"origin full: a relaying edge", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "a", 1, 0, 0.1)},
			[]string{"b+", "a"}},
		{"origin overloaded", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 0, 0.9), node("b", "a", 1, 0, 0.1)},
			[]string{"b+", "a"}},
		{"least CPU first, then shallower, then fewer relays out", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1),
			node("b", "a", 1, 1, 0.5), node("c", "a", 1, 1, 0.12), node("d", "c", 2, 0, 0.1), node("e", "a", 1, 0, 0.15)},
			[]string{"e+", "c+", "d+", "a"}},
		{"full edges are passed over", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "a", 1, 2, 0.1), node("c", "b", 2, 0, 0.3)},
			[]string{"c+", "a"}},
		{"a node's own fan-out counts", "x", 0, "", []cluster.NodeInfo{withFanout(node("a", "", 0, 2, 0.1), 3), node("b", "a", 1, 0, 0.1)},
			[]string{"a+", "b+", "a"}},
		{"everyone full: the origin", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "a", 1, 2, 0.1)},
			[]string{"a"}},
		{"no cycle: a child of this node", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("x", "a", 1, 1, 0.1), node("c", "x", 2, 0, 0.1)},
			[]string{"a"}},
		{"no cycle: a grandchild of this node", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "a", 1, 2, 0.1),
			node("c", "x", 2, 1, 0.1), node("d", "c", 3, 0, 0.1)}, []string{"a"}},
		{"a node whose parent is gone", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("c", "b", 2, 0, 0.1)},
			[]string{"a"}},
		{"a loop among stale entries", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "c", 2, 0, 0.1), node("c", "b", 2, 0, 0.1)},
			[]string{"a"}},
		{"the parent that just failed", "x", 0, "b", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "a", 1, 0, 0.1), node("c", "a", 1, 0, 0.3)},
			[]string{"c+", "a"}},
		{"too deep with the relays asking below", "x", 2, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "a", 5, 0, 0.1), node("c", "a", 4, 0, 0.1)},
			[]string{"c+", "a"}},
		{"at most three edges before the origin", "x", 0, "", []cluster.NodeInfo{node("a", "", 0, 2, 0.1), node("b", "a", 1, 0, 0.1),
			node("c", "a", 1, 0, 0.1), node("d", "a", 1, 0, 0.1), node("e", "a", 1, 0, 0.1)}, []string{"b+", "c+", "d+", "a"}},
		{"the origin unknown to the registry", "x", 0, "", []cluster.NodeInfo{node("b", "a", 1, 0, 0.1)},
			[]string{"a+", "b+", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := treeView{self: tc.self, room: "r", hops: tc.hops, avoid: tc.avoid, fanout: 2,
				origin: cluster.NodeInfo{ID: "a", URL: "http://a"}, nodes: map[string]cluster.NodeInfo{}}
			for _, n := range tc.nodes {
				v.nodes[n.ID] = n
			}
			v.origin.Load = v.nodes["a"].Load
			var got []string
			for _, p := range v.choose() {
				want := map[string]int{"a": 1}[p.id]
				if link, ok := v.nodes[p.id].Load.Relays["r"]; ok {
					want = link.Depth + 1
				}
				if p.depth != want || p.url != "http://"+p.id {
					t.Errorf("parent %s: depth %d url %s; want depth %d", p.id, p.depth, p.url, want)
				}
				got = append(got, p.id+map[bool]string{true: "+"}[p.confirm])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("parents %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTreeChoiceFanoutDefault: a node that advertises no fan-out has the asking node's.
func TestTreeChoiceFanoutDefault(t *testing.T) {
	v := treeView{self: "x", room: "r", origin: node("a", "", 0, DefaultFanout-1, 0), nodes: map[string]cluster.NodeInfo{}}
	if first := v.choose()[0]; first.id != "a" || !first.confirm || first.fanout != DefaultFanout {
		t.Errorf("first parent %+v, want the origin with fan-out %d", first, DefaultFanout)
	}
}
