package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRegistry is the Registry of a Redis directory's nodes (Redis.Registry).
type RedisRegistry struct{ r *Redis }

// Registry returns the node registry that shares r's connections.
func (r *Redis) Registry() *RedisRegistry { return &RedisRegistry{r: r} }

// Register announces self in Redis until ctx ends or the Redis is closed: a key per node that expires NodeTTL
// after the last heartbeat, the node in a sorted set by heartbeat time (for Nodes), and its
// viewers per room in each room's hash.
func (g *RedisRegistry) Register(ctx context.Context, self NodeInfo, load LoadFunc) error {
	r := g.r
	b := &heartbeat{r: r, self: self, load: load, rooms: map[string]bool{}}
	if err := b.beat(ctx); err != nil {
		return fmt.Errorf("cluster: register %q: %w", self.ID, err)
	}
	r.log.Info("cluster: node registered", "url", self.URL)
	r.closed.Go(func() { b.run(ctx) })
	return nil
}

// heartbeat keeps one node's entry.
type heartbeat struct {
	r     *Redis
	self  NodeInfo
	load  LoadFunc
	rooms map[string]bool // rooms whose viewer hash holds this node
}

func (b *heartbeat) run(ctx context.Context) {
	t := time.NewTicker(b.r.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			b.remove()
			return
		case <-b.r.running.Done():
			b.remove()
			return
		case <-t.C:
			_ = b.beat(ctx) // counted and logged by failed
		}
	}
}

// beat writes the node's entry with its load, and its viewers per room.
func (b *heartbeat) beat(ctx context.Context) error {
	r := b.r
	n := b.self
	n.Seen = time.Now()
	if b.load != nil {
		n.Load = b.load()
	}
	entry, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cluster: node entry: %w", err)
	}
	ttl := r.opts.NodeTTL
	now := n.Seen.UnixMilli()
	ctx, cancel := r.op(ctx)
	defer cancel()
	var live *redis.IntCmd
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.nodeKey(n.ID), entry, ttl)
		p.ZAdd(ctx, r.nodesKey(), redis.Z{Score: float64(now), Member: n.ID})
		p.ZRemRangeByScore(ctx, r.nodesKey(), "-inf", strconv.FormatInt(now-ttl.Milliseconds(), 10))
		live = p.ZCard(ctx, r.nodesKey())
		for room, v := range n.Load.RoomViewers {
			p.HSet(ctx, r.viewersKey(room), n.ID, fmt.Sprintf("%d %d", v, now))
			p.PExpire(ctx, r.viewersKey(room), ttl)
		}
		for room := range b.rooms {
			if _, ok := n.Load.RoomViewers[room]; !ok {
				p.HDel(ctx, r.viewersKey(room), n.ID)
			}
		}
		return nil
	})
	if err != nil {
		return r.failed("heartbeat", err)
	}
	r.succeeded()
	r.metrics.nodes.Set(float64(live.Val()))
	clear(b.rooms)
	for room := range n.Load.RoomViewers {
		b.rooms[room] = true
	}
	return nil
}

// remove deletes the node's entry when it stops (a node that dies expires instead).
func (b *heartbeat) remove() {
	r := b.r
	ctx, cancel := r.op(context.Background())
	defer cancel()
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.nodeKey(b.self.ID))
		p.ZRem(ctx, r.nodesKey(), b.self.ID)
		for room := range b.rooms {
			p.HDel(ctx, r.viewersKey(room), b.self.ID)
		}
		return nil
	})
	if err != nil {
		_ = r.failed("deregister", err)
	}
}

// Nodes returns the nodes with a heartbeat within the TTL, by ID.
func (g *RedisRegistry) Nodes(ctx context.Context) ([]NodeInfo, error) {
	r := g.r
	ctx, cancel := r.op(ctx)
	defer cancel()
	since := time.Now().Add(-r.opts.NodeTTL).UnixMilli()
	ids, err := r.rdb.ZRangeByScore(ctx, r.nodesKey(), &redis.ZRangeBy{Min: strconv.FormatInt(since, 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, r.failed("nodes", err)
	}
	slices.Sort(ids)
	cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Get(ctx, r.nodeKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, r.failed("nodes", err)
	}
	r.succeeded()
	out := make([]NodeInfo, 0, len(ids))
	for _, cmd := range cmds {
		if n, ok := decodeNode(cmd.(*redis.StringCmd).Val()); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// Node returns the live node id.
func (g *RedisRegistry) Node(ctx context.Context, id string) (NodeInfo, bool, error) {
	v, ok, err := g.r.get(ctx, g.r.nodeKey(id), "node "+id)
	if !ok || err != nil {
		return NodeInfo{}, false, err
	}
	n, ok := decodeNode(v)
	return n, ok, nil
}

func decodeNode(v string) (NodeInfo, bool) {
	var n NodeInfo
	return n, v != "" && json.Unmarshal([]byte(v), &n) == nil && n.ID != ""
}

// RoomViewers returns the viewers of room per node whose last heartbeat is within the TTL.
func (g *RedisRegistry) RoomViewers(ctx context.Context, room string) (map[string]int, error) {
	r := g.r
	ctx, cancel := r.op(ctx)
	defer cancel()
	fields, err := r.rdb.HGetAll(ctx, r.viewersKey(room)).Result()
	if err != nil {
		return nil, r.failed("viewers "+room, err)
	}
	r.succeeded()
	since := time.Now().Add(-r.opts.NodeTTL).UnixMilli()
	out := map[string]int{}
	for node, v := range fields {
		count, seen, _ := strings.Cut(v, " ")
		n, err1 := strconv.Atoi(count)
		at, err2 := strconv.ParseInt(seen, 10, 64)
		if err1 == nil && err2 == nil && at >= since && n > 0 {
			out[node] = n
		}
	}
	return out, nil
}
