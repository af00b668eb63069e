package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
)

// BenchmarkRedisOps measures the Redis commands a cluster sends in steady state with the
// default lease (6 s) and heartbeat (2 s): rooms held on an origin node, and nodes each
// reporting viewers of every room, over a fixed window (run with -benchtime 1x). It reports
// commands per second per room and per 1,000 viewers, as redis-server counts them (INFO
// commandstats: client commands, plus those that scripts run).
func BenchmarkRedisOps(b *testing.B) {
	const (
		rooms          = 100
		nodes          = 3
		viewersPerNode = 334 // about 1,000 viewers per room over the nodes
		window         = 12 * time.Second
	)
	ctx := context.Background()
	srv := redistest.Start(b, "")
	log, _ := testkit.NewLogger(b)
	var dirs []*Redis
	for i := range nodes {
		r, err := NewRedis(ctx, RedisOptions{URL: srv.URL(), Node: fmt.Sprint("node-", i), Log: log})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = r.Close() })
		dirs = append(dirs, r)
	}
	viewers := map[string]int{}
	for i := range rooms {
		room := fmt.Sprint("room-", i)
		viewers[room] = viewersPerNode
		if _, err := dirs[0].Claim(ctx, Request{Room: room, Kind: Publisher, Holder: "s"}); err != nil {
			b.Fatal(err)
		}
	}
	for _, r := range dirs {
		if err := r.Registry().Register(ctx, NodeInfo{ID: r.Node(), URL: "http://" + r.Node()}, func() Load {
			return Load{Viewers: rooms * viewersPerNode, Rooms: rooms, RoomViewers: viewers}
		}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if err := srv.ResetStats(ctx); err != nil {
			b.Fatal(err)
		}
		time.Sleep(window)
		stats, err := srv.CommandStats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		delete(stats, "config|resetstat")
		delete(stats, "info")
		var total int64
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(stats)) {
			total += stats[name]
			parts = append(parts, fmt.Sprintf("%s=%d", name, stats[name]))
		}
		secs := window.Seconds()
		b.ReportMetric(float64(total)/secs, "cmds/s")
		b.ReportMetric(float64(stats["evalsha"]+stats["eval"])/secs/rooms, "lease-scripts/s/room")
		b.ReportMetric(float64(stats["hset"]+stats["pexpire"]+stats["hdel"])/secs/rooms/(nodes*viewersPerNode/1000.0), "viewer-cmds/s/room/1000viewers")
		b.Logf("%d rooms, %d nodes, %d viewers per room over %s: %s", rooms, nodes, nodes*viewersPerNode, window, strings.Join(parts, " "))
	}
}
