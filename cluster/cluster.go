// Package cluster owns the room directory: which holder (a publisher session, an ingest
// connection) on which node holds a room. Holding is exclusive per room and kind, a claim
// carries a fencing token so that a holder that was replaced cannot release its successor,
// and watchers hear every change. Memory, the single-node implementation, is the only one
// and the default; one that several nodes share (Redis) is meant to fit the same interface.
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
	// Owner returns the room's current holder of kind; false when nobody holds it.
	Owner(ctx context.Context, room string, kind Kind) (Claim, bool, error)
	// Watch reports the changes of the room's holds (every kind) until ctx ends, then
	// closes the channel. A watcher that falls behind loses the oldest events, never the
	// latest: Owner tells the current state.
	Watch(ctx context.Context, room string) (<-chan Event, error)
}
