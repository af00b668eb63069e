package cluster

import (
	"context"
	"time"
)

// NodeInfo is one node of the cluster as the registry knows it.
type NodeInfo struct {
	ID string `json:"id"`
	// URL is the node's public HTTP base URL, what other nodes and clients reach it at
	// (scheme://host[:port], no trailing slash): a WHIP publish redirected to this node goes
	// to URL + "/whip/{room}", a relay pulls URL + "/whep/{room}".
	URL  string    `json:"url"`
	Load Load      `json:"load"`
	Seen time.Time `json:"seen"` // the node's last heartbeat
}

// Load is what a node reports of its work with every heartbeat.
type Load struct {
	CPU         float64        `json:"cpu"`                    // busy share of all the node's cores, 0-1
	Cores       int            `json:"cores"`                  // logical CPUs of the node
	Viewers     int            `json:"viewers"`                // WebRTC viewer sessions
	EgressBits  int64          `json:"egress_bits"`            // media sent, bit/s
	Rooms       int            `json:"rooms"`                  // rooms with a session on the node
	Transcodes  int            `json:"transcodes"`             // LL-HLS transcoding ladders running
	RoomViewers map[string]int `json:"room_viewers,omitempty"` // viewers per room on this node
	// The relay tree (package relay): the rooms this node relays from another node, the
	// relay sessions it serves to other nodes per room, and how many relays of one room it
	// takes before other nodes look for another parent (its --relay-fanout).
	Relays      map[string]RelayLink `json:"relays,omitempty"`
	RelaysOut   map[string]int       `json:"relays_out,omitempty"`
	RelayFanout int                  `json:"relay_fanout,omitempty"`
}

// RelayLink is a room that a node relays from another node, as its heartbeat tells it.
type RelayLink struct {
	Parent string `json:"parent"` // the node it relays the room from
	Depth  int    `json:"depth"`  // relays from the origin to this node, this one included (1: from the origin)
}

// LoadFunc tells a node's current load; the registry calls it before each heartbeat. It
// must return quickly and be safe to call from any goroutine.
type LoadFunc func() Load

// Registry is the cluster's node list: every node registers itself with its public URL and
// keeps its entry fresh with heartbeats carrying its load; an entry whose heartbeats stop
// expires (Redis: after RedisOptions.NodeTTL). Implementations are safe for concurrent use.
type Registry interface {
	// Register announces self (its ID and URL; Load and Seen are filled in) and keeps it
	// announced with a heartbeat carrying load() until ctx ends, when the entry is removed.
	// The first heartbeat is written before Register returns (its error is returned);
	// later failures are logged and retried.
	Register(ctx context.Context, self NodeInfo, load LoadFunc) error
	// Nodes returns every live node (heartbeat within the TTL), ordered by ID.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// Node returns the live node id; false when it is unknown or expired.
	Node(ctx context.Context, id string) (NodeInfo, bool, error)
	// RoomViewers returns the viewers of room per node, from the nodes' last heartbeats.
	RoomViewers(ctx context.Context, room string) (map[string]int, error)
}

// The implementations.
var (
	_ Directory = (*Memory)(nil)
	_ Directory = (*Redis)(nil)
	_ Registry  = (*MemoryRegistry)(nil)
	_ Registry  = (*RedisRegistry)(nil)
)
