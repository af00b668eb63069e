package config

import (
	"flag"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ClusterSettings join the node to a cluster coordinated through Redis (--redis). Empty
// Redis: the node runs alone, its rooms in memory.
type ClusterSettings struct {
	// Redis locates the shared Redis: redis://[user:pass@]host:port[/db], rediss:// (TLS),
	// unix:///path, redis+sentinel://… ?master_name=, redis+cluster://… (docs/cluster.md).
	Redis string `yaml:"redis"`
	// NodeID names this node in the cluster; empty: hostname-port.
	NodeID string `yaml:"node_id"`
	// PublicURL is this node's base URL as other nodes and clients reach it
	// (http[s]://host[:port]); empty: from the hostname and the HTTP listener's port.
	PublicURL string `yaml:"public_url"`
	// Lease is how long a room's ownership outlives a node that stopped renewing it; 0:
	// the default, 6 s.
	Lease time.Duration `yaml:"cluster_lease"`
}

// Enabled reports whether the node is part of a Redis cluster.
func (s ClusterSettings) Enabled() bool { return s.Redis != "" }

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// redisSchemes are the URL schemes --redis accepts.
var redisSchemes = []string{"redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"}

// bindCluster binds the cluster's flags.
func (c *Config) bindCluster(fs *flag.FlagSet) {
	s := &c.Cluster
	fs.StringVar(&s.Redis, "redis", s.Redis, "Redis of a cluster of nodes: redis://[:pass@]host:port/db, rediss://, unix://, redis+sentinel://host:port?master_name=M, redis+cluster://host:port?addr=…; empty: this node alone (prefer GLINT_REDIS: a password in a flag shows in the process list)")
	fs.StringVar(&s.NodeID, "node-id", s.NodeID, "this node's id in the cluster (1-64 of A-Z a-z 0-9 . _ -); empty: hostname-port")
	fs.StringVar(&s.PublicURL, "public-url", s.PublicURL, "base URL other nodes and clients reach this node at, http[s]://host[:port] (WHIP redirects point here); empty: from the hostname and --http-addr's port")
	fs.DurationVar(&s.Lease, "cluster-lease", s.Lease, "how long a room stays owned by a node that stopped renewing it (renewed every third): the longest a dead origin holds its rooms; 0: 6s")
}

// validateCluster checks the cluster settings.
func (c *Config) validateCluster() error {
	s := c.Cluster
	if s.NodeID != "" && !nodeIDPattern.MatchString(s.NodeID) {
		return fmt.Errorf("node-id %q: want 1-64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)", s.NodeID)
	}
	if s.Lease != 0 && (s.Lease < time.Second || s.Lease > time.Minute) {
		return fmt.Errorf("cluster-lease %s: must be 1s-1m (0: the default, 6s)", s.Lease)
	}
	if s.PublicURL != "" {
		u, err := url.Parse(s.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("public-url %q: want http[s]://host[:port] without a path", s.PublicURL)
		}
	}
	if s.Redis == "" {
		return nil
	}
	u, err := url.Parse(s.Redis)
	if err != nil {
		return fmt.Errorf("redis: not a URL (want redis://[:password@]host:port[/db])")
	}
	for _, scheme := range redisSchemes {
		if u.Scheme == scheme {
			return nil
		}
	}
	return fmt.Errorf("redis %q: scheme must be one of %s", u.Redacted(), strings.Join(redisSchemes, ", "))
}
