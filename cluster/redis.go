package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of RedisOptions.
const (
	DefaultLease     = 6 * time.Second
	DefaultOpTimeout = 2 * time.Second
	DefaultPrefix    = "glint:"
)

// RedisOptions configure a Redis directory and registry.
type RedisOptions struct {
	// URL locates Redis: redis://[user:pass@]host:port[/db][?options], rediss:// (TLS),
	// unix:///path.sock, redis+sentinel://[user:pass@]sentinel:port[/db]?master_name=NAME
	// [&addr=sentinel2:port…] (rediss+sentinel:// for TLS; the URL's user and password
	// are the sentinels', ?password= the master's), redis+cluster://host:port[?addr=host2:port2…]
	// (rediss+cluster://). Options are go-redis' (ParseURL, ParseFailoverURL, ParseClusterURL).
	URL string
	// Node is this node's id (required): the Node of the claims it grants.
	Node string
	// Lease is how long a claim lives in Redis without a renewal (DefaultLease); the holder
	// renews every third of it. A node that died frees its rooms after at most Lease.
	Lease time.Duration
	// Heartbeat is how often Register reports the node (DefaultHeartbeat); NodeTTL how long
	// an entry lives without one (3 heartbeats).
	Heartbeat, NodeTTL time.Duration
	// OpTimeout bounds one Redis operation (DefaultOpTimeout).
	OpTimeout time.Duration
	// Prefix starts every key and channel (DefaultPrefix): several clusters may share a
	// Redis with different prefixes.
	Prefix string
	Log    *slog.Logger
}

// Redis is the Directory and Registry that several nodes share through one Redis (or a
// sentinel-managed or clustered one). A claim is a lease: a key set only if absent, with
// an expiry that the holder renews every third of the lease; its value starts with a
// fencing token (an INCR of the room's counter), and renewal and release are Lua scripts
// that act only when the key still holds the holder's own value. A holder that could not
// renew while another node claimed the room learns it at its next renewal (ErrFenced,
// Request.OnLost). While Redis is unreachable, held claims are kept locally and re-asserted
// with their tokens when it returns; new claims fail with ErrUnavailable.
type Redis struct {
	opts    RedisOptions
	rdb     redis.UniversalClient
	log     *slog.Logger
	metrics *redisMetrics

	mu   sync.Mutex
	held map[roomKind]*lease

	up      atomic.Bool     // the last Redis operation succeeded
	running context.Context // ends with Close: stops the renewals and heartbeats
	stop    context.CancelFunc
	closed  sync.WaitGroup
}

// lease is a claim this node holds, with what renews it.
type lease struct {
	claim  Claim
	value  string // the key's value: token, space, payload
	onLost func(Claim, error)
}

// NewRedis connects to opts.URL, checks it answers (a wrong password or an unreachable
// server is an error here, naming the cause) and starts renewing the claims it grants.
// Close stops it.
func NewRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	if opts.Node == "" || strings.ContainsAny(opts.Node, " \n") {
		return nil, fmt.Errorf("cluster: node id %q: must be non-empty, without spaces", opts.Node)
	}
	opts.Lease = cmp.Or(opts.Lease, DefaultLease)
	opts.Heartbeat = cmp.Or(opts.Heartbeat, DefaultHeartbeat)
	opts.NodeTTL = cmp.Or(opts.NodeTTL, 3*opts.Heartbeat)
	opts.OpTimeout = cmp.Or(opts.OpTimeout, DefaultOpTimeout)
	opts.Prefix = cmp.Or(opts.Prefix, DefaultPrefix)
	opts.Log = cmp.Or(opts.Log, slog.Default())
	if opts.Lease < 300*time.Millisecond {
		return nil, fmt.Errorf("cluster: lease %s: must be at least 300ms", opts.Lease)
	}
	rdb, err := NewRedisClient(opts.URL, opts.OpTimeout)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*opts.OpTimeout)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("cluster: redis %s: %w", RedactURL(opts.URL), err)
	}
	r := &Redis{opts: opts, rdb: rdb, held: map[roomKind]*lease{}, metrics: newRedisMetrics(),
		log: opts.Log.With("node", opts.Node)}
	r.metrics.held = r.heldCount
	r.up.Store(true)
	r.running, r.stop = context.WithCancel(context.Background())
	r.closed.Go(func() { r.renewLoop(r.running) })
	return r, nil
}

// NewRedisClient makes a go-redis client for a RedisOptions.URL, every operation bounded
// by opTimeout.
func NewRedisClient(rawURL string, opTimeout time.Duration) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: redis URL: %w", err)
	}
	base, mode, _ := strings.Cut(u.Scheme, "+")
	plain := *u
	plain.Scheme = base
	wrap := func(err error) error {
		return fmt.Errorf("cluster: redis URL %s: %w", RedactURL(rawURL), err)
	}
	switch {
	case mode == "" && (base == "redis" || base == "rediss" || base == "unix"):
		o, err := redis.ParseURL(plain.String())
		if err != nil {
			return nil, wrap(err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.ContextTimeoutEnabled = opTimeout, opTimeout, opTimeout, true
		return redis.NewClient(o), nil
	case mode == "sentinel" && (base == "redis" || base == "rediss"):
		o, err := redis.ParseFailoverURL(plain.String())
		if err != nil {
			return nil, wrap(err)
		}
		if o.MasterName == "" {
			return nil, wrap(errors.New("a sentinel URL needs ?master_name="))
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.ContextTimeoutEnabled = opTimeout, opTimeout, opTimeout, true
		return redis.NewFailoverClient(o), nil
	case mode == "cluster" && (base == "redis" || base == "rediss"):
		o, err := redis.ParseClusterURL(plain.String())
		if err != nil {
			return nil, wrap(err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.ContextTimeoutEnabled = opTimeout, opTimeout, opTimeout, true
		return redis.NewClusterClient(o), nil
	}
	return nil, wrap(errors.New("scheme must be redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster"))
}

// RedactURL is rawURL with its password replaced by xxxxx, for logs and errors.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") || q.Has("sentinel_password") {
		for _, k := range []string{"password", "sentinel_password"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Node is this node's id.
func (r *Redis) Node() string { return r.opts.Node }

// Available reports whether the last Redis operation succeeded.
func (r *Redis) Available() bool { return r.up.Load() }

// Close stops renewing (the claims still held expire after their lease, unless released
// first), removes the node entries it registered and closes the connections.
func (r *Redis) Close() error {
	r.stop()
	r.closed.Wait()
	return r.rdb.Close()
}

// op bounds one Redis operation by the OpTimeout.
func (r *Redis) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.OpTimeout)
}

// failed records a failed Redis operation and returns it as ErrUnavailable.
func (r *Redis) failed(what string, err error) error {
	r.metrics.errors.Inc()
	if r.up.Swap(false) {
		r.log.Warn("cluster directory unavailable: keeping held rooms, refusing new claims", "op", what, "err", err.Error())
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// succeeded records a successful Redis operation.
func (r *Redis) succeeded() {
	if !r.up.Swap(true) {
		r.log.Info("cluster directory reachable again")
	}
}

// Keys and channels; the room is a hash tag so that a room's keys share a cluster slot.
func (r *Redis) ownerKey(room string, kind Kind) string {
	return r.opts.Prefix + "room:{" + room + "}:" + string(kind)
}
func (r *Redis) fenceKey(room string) string     { return r.opts.Prefix + "room:{" + room + "}:fence" }
func (r *Redis) eventChannel(room string) string { return r.opts.Prefix + "events:" + room }
func (r *Redis) nodeKey(id string) string        { return r.opts.Prefix + "node:" + id }
func (r *Redis) nodesKey() string                { return r.opts.Prefix + "nodes" }
func (r *Redis) viewersKey(room string) string   { return r.opts.Prefix + "viewers:{" + room + "}" }
