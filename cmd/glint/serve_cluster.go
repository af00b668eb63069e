package main

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/hlsbridge"
	"github.com/glint-video/glint/sfu"
)

// clusterJoinTimeout bounds the first contact with Redis at start.
const clusterJoinTimeout = 10 * time.Second

// openCluster returns the node's room directory: a Memory when the node runs alone, else
// the Redis of --redis (which must answer now: a wrong password or an unreachable Redis
// stops the start with the reason).
func (n *node) openCluster() (cluster.Directory, error) {
	c := n.cfg.Cluster
	if !c.Enabled() {
		return cluster.NewMemory(cluster.DefaultNode), nil
	}
	id := c.NodeID
	if id == "" {
		id = defaultNodeID(n.cfg.HTTPAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterJoinTimeout)
	defer cancel()
	r, err := cluster.NewRedis(ctx, cluster.RedisOptions{URL: c.Redis, Node: id, Lease: c.Lease, Log: n.log})
	if err != nil {
		return nil, err
	}
	n.redis = r
	n.log.Info("cluster: joined", "redis", cluster.RedactURL(c.Redis), "node", id)
	return r, nil
}

// defaultNodeID is hostname-port.
func defaultNodeID(httpAddr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "glint"
	}
	_, port, _ := net.SplitHostPort(httpAddr)
	return host + "-" + port
}

// clusterCollectors are the glint_cluster_* metrics (none when alone).
func (n *node) clusterCollectors() []prometheus.Collector {
	if n.redis == nil {
		return nil
	}
	return n.redis.Collectors()
}

// clusterRegistry is where signaling finds the owner of a room (nil when alone).
func (n *node) clusterRegistry() cluster.Registry {
	if n.redis == nil {
		return nil
	}
	return n.redis.Registry()
}

// registerNode adds the service that keeps this node in the registry, with its public URL
// and load, while the streams run (once the listener is bound).
func (n *node) registerNode(bridges *hlsbridge.Manager) {
	if n.redis == nil {
		return
	}
	self := cluster.NodeInfo{ID: n.redis.Node(), URL: n.publicURL()}
	meter := &loadMeter{sfu: n.sfu, hls: bridges}
	n.services = append(n.services, func(ctx context.Context) {
		if err := n.redis.Registry().Register(ctx, self, n.withRelayLoad(meter.load)); err != nil {
			n.log.Error("cluster: node not registered (its heartbeats go on trying)", "err", err.Error())
		}
	})
}

// publicURL is --public-url, else http[s]://hostname:port of the HTTP listener.
func (n *node) publicURL() string {
	if n.cfg.Cluster.PublicURL != "" {
		return n.cfg.Cluster.PublicURL
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	scheme := "http"
	if n.cfg.TLS() {
		scheme = "https"
	}
	port := strconv.Itoa(n.ln.Addr().(*net.TCPAddr).Port)
	return scheme + "://" + net.JoinHostPort(host, port)
}

// closeCluster stops renewing leases and leaves the registry; the SFU has released its
// rooms by then.
func (n *node) closeCluster() {
	if n.redis == nil {
		return
	}
	if err := n.redis.Close(); err != nil {
		n.log.Warn("cluster: close", "err", err.Error())
	}
}

// loadMeter measures the node's load for its heartbeats: CPU and egress as rates since the
// previous call.
type loadMeter struct {
	sfu *sfu.SFU
	hls *hlsbridge.Manager // nil when LL-HLS is off

	mu        sync.Mutex
	lastAt    time.Time
	lastCPU   time.Duration
	lastBytes uint64
}

func (m *loadMeter) load() cluster.Load {
	now, cpu := time.Now(), processCPU()
	totals := m.sfu.Totals()
	l := cluster.Load{Cores: runtime.NumCPU(), Viewers: totals.Viewers, RoomViewers: map[string]int{}}
	for _, r := range m.sfu.Rooms() {
		l.Rooms++
		if r.Viewers > 0 {
			l.RoomViewers[r.Name] = r.Viewers
		}
	}
	if m.hls != nil {
		l.Transcodes = len(m.hls.Rooms())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if elapsed := now.Sub(m.lastAt); !m.lastAt.IsZero() && elapsed > 0 {
		l.CPU = float64(cpu-m.lastCPU) / float64(elapsed) / float64(l.Cores)
		l.EgressBits = int64(float64(totals.BytesOut-m.lastBytes) * 8 / elapsed.Seconds())
	}
	m.lastAt, m.lastCPU, m.lastBytes = now, cpu, totals.BytesOut
	return l
}

// processCPU is the CPU time the process has used (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
