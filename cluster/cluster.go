// Package cluster owns the room directory: which holder (a publisher session, an ingest
// connection) on which node holds a room. Holding is exclusive per room and kind, a claim
// carries a fencing token so that a holder that was replaced cannot release its successor,
// and watchers hear every change. Memory is the single-node implementation and the
// default; Redis is the one several nodes share (leases renewed by their holder, fenced by
// the token). The package also keeps the node registry (Registry: every node's public URL
// and load, by heartbeats), in memory (MemoryRegistry) or in Redis.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultNode is the node id of a Glint that runs alone.
const DefaultNode = "local"

// Kind names what is held of a room; each kind of a room has at most one holder.
type Kind string

// The kinds Glint holds.
const (
	// Publisher is the room's publisher session in the SFU (WHIP or in-process).
	Publisher Kind = "publisher"
	// Ingest is an RTMP or SRT connection's hold of the room, from its handshake until it
	// ends; the connection also claims Publisher once its codecs are known.
	Ingest Kind = "ingest"
)

// Request asks for a room.
type Request struct {
	Room   string
	Kind   Kind
	Holder string // the session or connection id, unique on its node
	// Replace takes the room from its current holder instead of failing with ErrClaimed;
	// the previous holder's Release then does nothing (its token is stale).
	Replace bool
	// OnLost, when set, is called once (on a goroutine of the directory) if the directory
	// finds that the granted claim is no longer held although it was not released: its
	// lease was taken by another holder while this one could not renew it (ErrFenced). The
	// holder must stop at once (end the publish). Memory never loses a claim this way.
	OnLost func(c Claim, err error)
}

// Claim is a granted hold of a room.
type Claim struct {
	Room   string
	Kind   Kind
	Node   string
	Holder string
	// Token increases with every grant of the directory: a release or renewal with an
	// older token than the room's current one is refused (fencing).
	Token uint64
	Since time.Time
}

// String names the holder, e.g. "rtmp-3 on node-a".
func (c Claim) String() string { return fmt.Sprintf("%s on %s", c.Holder, c.Node) }

// Errors of a Directory (wrapped, test with errors.Is).
var (
	// ErrClaimed is a claim of a room that someone else holds: see ClaimedError.
	ErrClaimed = errors.New("cluster: room already claimed")
	// ErrNotHolder is a release with a token that is no longer the room's.
	ErrNotHolder = errors.New("cluster: claim no longer held")
	// ErrFenced is a renewal or owner-side write with a token older than the room's: a
	// newer holder took the room while this one was paused or cut off.
	ErrFenced = errors.New("cluster: claim fenced by a newer holder")
	// ErrUnavailable is the shared directory being unreachable: no new claim, no lookup of
	// another node's room, until it returns (claims already held are kept).
	ErrUnavailable = errors.New("cluster directory unavailable")
)

// ClaimedError refuses a claim and names the current holder.
type ClaimedError struct {
	Owner Claim
}

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("cluster: room %q (%s) already claimed by %s", e.Owner.Room, e.Owner.Kind, e.Owner)
}

// Is makes errors.Is(err, ErrClaimed) hold.
func (e *ClaimedError) Is(target error) bool { return target == ErrClaimed }

// EventType says what happened to a room's hold.
type EventType string

// The events a watcher receives.
const (
	Claimed  EventType = "claimed"  // Claim is the new holder (possibly replacing another)
	Released EventType = "released" // Claim is the holder that let go
)

// Event is one change of a room's hold.
type Event struct {
	Type  EventType
	Claim Claim
}

// Directory is the room directory. Implementations are safe for concurrent use.
type Directory interface {
	// Node is this node's id, the Node of the claims it grants.
	Node() string
	// Claim grants req's holder the room, or fails with a *ClaimedError (ErrClaimed).
	Claim(ctx context.Context, req Request) (Claim, error)
	// Release gives the room up; ErrNotHolder when c was replaced or already released.
	Release(ctx context.Context, c Claim) error
	// Owner returns the room's current holder of kind; false when nobody holds it. The
	// claim's Node is the owner node's id (its URL is in the Registry).
	Owner(ctx context.Context, room string, kind Kind) (Claim, bool, error)
	// Watch reports the changes of the room's holds (every kind) until ctx ends, then
	// closes the channel. A watcher that falls behind loses the oldest events, never the
	// latest: Owner tells the current state.
	Watch(ctx context.Context, room string) (<-chan Event, error)
}
