package main

import (
	"cmp"
	"context"
	"net/http"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/relay"
	"github.com/glint-video/glint/signaling"
)

// clusterLocator finds where a room is live through the cluster: the owner of its publisher
// claim in the directory, that node's public URL in the registry.
type clusterLocator struct {
	dir cluster.Directory
	reg cluster.Registry
}

func (l clusterLocator) Origin(ctx context.Context, room string) (nodeID, baseURL string, ok bool, err error) {
	c, ok, err := l.dir.Owner(ctx, room, cluster.Publisher)
	if err != nil || !ok {
		return "", "", false, err
	}
	info, ok, err := l.reg.Node(ctx, c.Node)
	if err != nil || !ok {
		return "", "", false, err
	}
	return info.ID, info.URL, true, nil
}

// relaysOn reports whether this node relays rooms from other nodes: in a cluster with a
// cluster secret (the relays' credential on the other nodes).
func (n *node) relaysOn() bool {
	if n.redis == nil {
		return false
	}
	if n.cfg.Relay.ClusterSecret == "" {
		n.log.Warn("cluster: no --cluster-secret: rooms live on other nodes are not relayed here (viewers of them get 404)")
		return false
	}
	return true
}

// relays is signaling's Relays hook: the node's relay Manager in a cluster (GET /api/relays
// too; its relays end with the streams), nil alone.
func (n *node) relays() signaling.Relays {
	if !n.relaysOn() {
		return nil
	}
	m, err := relay.New(relay.Options{SFU: n.sfu, Locator: newSuccessorLocator(clusterLocator{n.redis, n.redis.Registry()}, cmp.Or(n.cfg.Cluster.Lease, cluster.DefaultLease)),
		NodeID: n.redis.Node(), Secret: n.cfg.Relay.ClusterSecret, Linger: n.cfg.Relay.RelayLinger,
		Registry: n.redis.Registry(), Fanout: n.cfg.Relay.RelayFanout,
		SettingEngine: n.relaySettings, Logger: n.log})
	if err != nil {
		n.log.Error("cluster: relays off", "err", err)
		return nil
	}
	m.Register(n.mux)
	n.relayTree = m
	n.services = append(n.services, func(ctx context.Context) {
		<-ctx.Done()
		m.Close()
	})
	return m
}

// withRelayLoad adds the relay tree's part (relays in and out per room, the fan-out) to
// the node's heartbeat load when this node relays.
func (n *node) withRelayLoad(load cluster.LoadFunc) cluster.LoadFunc {
	if n.relayTree == nil {
		return load
	}
	return func() cluster.Load {
		l := load()
		n.relayTree.AddLoad(&l)
		return l
	}
}

// hlsFront is what /hls/ serves: in a cluster with relays, a relay.Shield that serves the
// rooms transcoded here from local and fetches the others from their origin; else nil (the
// local LL-HLS server).
func (n *node) hlsFront(local http.Handler, has func(room string) bool) http.Handler {
	if n.redis == nil || n.cfg.Relay.ClusterSecret == "" {
		return nil
	}
	s, err := relay.NewShield(relay.ShieldOptions{Local: local, Has: has,
		Locator: clusterLocator{n.redis, n.redis.Registry()}, NodeID: n.redis.Node(), Secret: n.cfg.Relay.ClusterSecret, Logger: n.log})
	if err != nil {
		n.log.Error("cluster: LL-HLS origin shield off", "err", err)
		return nil
	}
	return s
}
