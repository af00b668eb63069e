package config

import (
	"flag"
	"fmt"
	"time"
)

// RelaySettings are the node-to-node relay's (package relay): the cluster secret with which
// nodes' relays authenticate to each other, how long a relay outlives its last viewer, and
// how many relays of one room a node serves before the others pick another parent (a tree).
type RelaySettings struct {
	// ClusterSecret is the bearer token of relays between nodes: a WHEP request with it is
	// another node's relay (every layer, not a viewer, no room token). The same on every
	// node; empty: this node serves no relays.
	ClusterSecret string        `yaml:"cluster_secret"`
	RelayLinger   time.Duration `yaml:"relay_linger"`
	// RelayFanout is how many relays of one room this node serves before the nodes that
	// need one prefer another parent: a node that relays the room already (docs/cluster-relay.md).
	RelayFanout int `yaml:"relay_fanout"`
}

// DefaultRelayFanout is RelaySettings.RelayFanout's default (relay.DefaultFanout).
const DefaultRelayFanout = 8

// maxRelayFanout bounds --relay-fanout (each relay carries every layer of the room).
const maxRelayFanout = 1000

// minClusterSecret is the shortest cluster secret accepted (it opens every room).
const minClusterSecret = 16

// bindRelay binds the relay's flags.
func (c *Config) bindRelay(fs *flag.FlagSet) {
	fs.StringVar(&c.Relay.ClusterSecret, "cluster-secret", c.Relay.ClusterSecret, "shared secret of the cluster's nodes (at least 16 characters): other nodes' relays present it as their bearer token (prefer GLINT_CLUSTER_SECRET: a flag shows in the process list); empty: no relays")
	fs.DurationVar(&c.Relay.RelayLinger, "relay-linger", c.Relay.RelayLinger, "how long a relay from another node stays after its last local viewer left")
	fs.IntVar(&c.Relay.RelayFanout, "relay-fanout", c.Relay.RelayFanout, "relays of one room this node serves to other nodes before they prefer a node that relays the room already (a tree)")
}

// validateRelay checks the relay's settings.
func (c *Config) validateRelay() error {
	if s := c.Relay.ClusterSecret; s != "" && len(s) < minClusterSecret {
		return fmt.Errorf("cluster-secret: %d characters; want at least %d (it opens every room to whoever has it)", len(s), minClusterSecret)
	}
	if f := c.Relay.RelayFanout; f < 1 || f > maxRelayFanout {
		return fmt.Errorf("relay-fanout %d: want 1 to %d relays of one room", f, maxRelayFanout)
	}
	if c.Relay.RelayLinger <= 0 {
		return fmt.Errorf("relay-linger %s: must be positive", c.Relay.RelayLinger)
	}
	return nil
}
