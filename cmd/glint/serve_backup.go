package main

import (
	"context"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/relay"
	"github.com/glint-video/glint/sfu"
)

// Cluster publishing (docs/cluster.md): a publisher that lands on a node that does not own
// its room is kept and pushed to the owner (RTMP/SRT always; WHIP in backup rooms, others
// are redirected); when the owner dies the node that keeps a standby takes the room.

// Relay connections notice a dead upstream after about relayICEDisconnected +
// relayICEFailed without a packet (pion's defaults, 5 s + 25 s, would keep the edges'
// viewers waiting long after the room's new origin is up).
const (
	relayICEDisconnected = time.Second
	relayICEFailed       = time.Second
	relayICEKeepalive    = 250 * time.Millisecond
)

// pushesOn reports whether this node pushes publishers to their rooms' owners: in a
// cluster with a cluster secret (the pushes' credential on the owner).
func (n *node) pushesOn() bool { return n.redis != nil && n.cfg.Relay.ClusterSecret != "" }

// remotePublishers is the SFU's RemotePublisher hook: a relay.Pusher in a cluster with a
// cluster secret, nil otherwise (a publish of a room owned elsewhere is then redirected or
// refused as before).
func (n *node) remotePublishers() func(*sfu.RemotePublisher) {
	if !n.pushesOn() {
		return nil
	}
	p, err := relay.NewPusher(relay.PushOptions{Locator: clusterLocator{n.redis, n.redis.Registry()},
		Directory: n.redis, NodeID: n.redis.Node(), Secret: n.cfg.Relay.ClusterSecret,
		SettingEngine: n.relaySettings, Logger: n.log})
	if err != nil {
		n.log.Error("cluster: pushes to rooms' owners off", "err", err)
		return nil
	}
	return p.Push
}

// relaySettings is the SettingEngine of the connections this node opens to other nodes
// (relays, pushes): the node's candidate policy and a quick verdict on a dead peer.
func (n *node) relaySettings(se *webrtc.SettingEngine) {
	n.sfu.ClientSettings(se)
	se.SetICETimeouts(relayICEDisconnected, relayICEFailed, relayICEKeepalive)
}

// backupRoom reports whether room's publisher policy is backup (ingest's BackupRoom).
func (n *node) backupRoom(room string) bool {
	return n.cfg.RoomSettings(room).PublisherPolicy == config.PolicyBackup
}

// successorLocator is the relays' OriginLocator: the cluster's, except that a room whose
// origin it named before and which nobody owns now is waited for, up to a lease and a
// second (its owner may have died, and a standby on another node takes the room once the
// owner's lease lapses), so that edge relays re-attach as soon as the new origin claims the
// room instead of backing off. A room still without an owner after the wait is forgotten.
type successorLocator struct {
	clusterLocator
	wait time.Duration // how long a lost origin's successor is waited for

	mu    sync.Mutex
	named map[string]bool // rooms whose origin was named and not found gone since
}

func newSuccessorLocator(l clusterLocator, lease time.Duration) *successorLocator {
	return &successorLocator{clusterLocator: l, wait: lease + time.Second, named: map[string]bool{}}
}

func (l *successorLocator) Origin(ctx context.Context, room string) (nodeID, baseURL string, ok bool, err error) {
	deadline := time.Now().Add(l.wait)
	for {
		nodeID, baseURL, ok, err = l.clusterLocator.Origin(ctx, room)
		if err != nil || ok || !l.lostRecently(room) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return "", "", false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err == nil {
		l.mu.Lock()
		if ok {
			l.named[room] = true
		} else {
			delete(l.named, room)
		}
		l.mu.Unlock()
	}
	return nodeID, baseURL, ok, err
}

// lostRecently reports whether an origin of room was named and not found gone since.
func (l *successorLocator) lostRecently(room string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.named[room]
}
