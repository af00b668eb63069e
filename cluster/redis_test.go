package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
)

// testLease is short so that expiry tests run quickly; renewals every 200 ms.
const testLease = 600 * time.Millisecond

func newTestRedis(t *testing.T, url, node string) *Redis {
	t.Helper()
	log, _ := testkit.NewLogger(t)
	r, err := NewRedis(context.Background(), RedisOptions{URL: url, Node: node, Lease: testLease,
		Heartbeat: 200 * time.Millisecond, OpTimeout: 500 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatalf("NewRedis %s: %v", node, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// holdRoom starts nodes a and b on srv, with room "r" held by a; lost receives what a's
// OnLost is told.
func holdRoom(t *testing.T, ctx context.Context, srv *redistest.Server) (a, b *Redis, held Claim, lost chan error) {
	t.Helper()
	a, b = newTestRedis(t, srv.URL(), "node-a"), newTestRedis(t, srv.URL(), "node-b")
	lost = make(chan error, 1)
	held, err := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s1", OnLost: func(_ Claim, err error) { lost <- err }})
	if err != nil {
		t.Fatal(err)
	}
	return a, b, held, lost
}

func TestRedisClaimRenewRelease(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := redistest.Start(t, "")
	a, b := newTestRedis(t, srv.URL(), "node-a"), newTestRedis(t, srv.URL(), "node-b")
	c, err := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s1"})
	if err != nil || c.Node != "node-a" || c.Holder != "s1" || c.Token == 0 {
		t.Fatalf("claim: %+v %v", c, err)
	}
	_, err = b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s2"})
	var ce *ClaimedError
	if !errors.As(err, &ce) || ce.Owner.Node != "node-a" || ce.Owner.Token != c.Token {
		t.Fatalf("second claim: %v, want a ClaimedError naming node-a", err)
	}
	if _, err := b.Claim(ctx, Request{Room: "r", Kind: Ingest, Holder: "rtmp-1"}); err != nil {
		t.Fatalf("another kind of the room: %v", err)
	}
	time.Sleep(3 * testLease) // renewed meanwhile
	owner, ok, err := b.Owner(ctx, "r", Publisher)
	if err != nil || !ok || owner.Token != c.Token || owner.Node != "node-a" || owner.Holder != "s1" {
		t.Fatalf("owner after 3 leases: %+v %v %v, want %+v", owner, ok, err, c)
	}
	if err := b.Release(ctx, owner); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("release by another node: %v, want ErrNotHolder", err)
	}
	if err := a.Release(ctx, c); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := a.Release(ctx, c); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("second release: %v, want ErrNotHolder", err)
	}
	c2, err := b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s2"})
	if err != nil || c2.Token <= c.Token {
		t.Fatalf("claim after release: %+v %v (token must grow past %d)", c2, err, c.Token)
	}
	c3, err := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s3", Replace: true})
	if err != nil || c3.Token <= c2.Token {
		t.Fatalf("replace: %+v %v", c3, err)
	}
	if err := b.Release(ctx, c2); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("release of the replaced claim: %v, want ErrNotHolder", err)
	}
}

func TestRedisLeaseExpiresWithoutRenewal(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := redistest.Start(t, "")
	a, b := newTestRedis(t, srv.URL(), "node-a"), newTestRedis(t, srv.URL(), "node-b")
	if _, err := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s1"}); err != nil {
		t.Fatal(err)
	}
	_ = a.Close() // a node that died: no renewal, no release
	testkit.Eventually(t, ctx, "lease expired", func() bool {
		_, ok, err := b.Owner(ctx, "r", Publisher)
		return err == nil && !ok
	})
	if _, err := b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s2"}); err != nil {
		t.Fatalf("claim after expiry: %v", err)
	}
}

// TestRedisRace: nodes racing for the same rooms: exactly one wins each room, the others
// get a ClaimedError naming the winner.
func TestRedisRace(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := redistest.Start(t, "")
	nodes := []*Redis{newTestRedis(t, srv.URL(), "a"), newTestRedis(t, srv.URL(), "b"), newTestRedis(t, srv.URL(), "c")}
	for room := range 20 {
		name := fmt.Sprint("room-", room)
		var mu sync.Mutex
		var wins []Claim
		var refused []*ClaimedError
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() {
				c, err := n.Claim(ctx, Request{Room: name, Kind: Publisher, Holder: "h-" + n.Node()})
				mu.Lock()
				defer mu.Unlock()
				var ce *ClaimedError
				switch {
				case err == nil:
					wins = append(wins, c)
				case errors.As(err, &ce):
					refused = append(refused, ce)
				default:
					t.Errorf("%s: %v", name, err)
				}
			})
		}
		wg.Wait()
		if len(wins) != 1 || len(refused) != len(nodes)-1 {
			t.Fatalf("%s: %d winners, %d refused", name, len(wins), len(refused))
		}
		for _, ce := range refused {
			if ce.Owner != wins[0] {
				t.Fatalf("%s: refusal names %+v, winner %+v", name, ce.Owner, wins[0])
			}
		}
	}
}

// TestRedisFencing: a holder paused past its lease loses the room to another node; when it
// resumes, its renewal is refused (ErrFenced through OnLost) and it cannot release the new
// holder's claim.
func TestRedisFencing(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := redistest.Start(t, "")
	a, b, old, lost := holdRoom(t, ctx, srv)
	a.StopRenewals() // paused
	var taken Claim
	testkit.Eventually(t, ctx, "node-b claims the expired room", func() bool {
		var err error
		taken, err = b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s2"})
		return err == nil
	})
	if taken.Token <= old.Token {
		t.Fatalf("new token %d not above the old %d", taken.Token, old.Token)
	}
	a.RenewNow(ctx) // resumed
	select {
	case err := <-lost:
		if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), `"r"`) {
			t.Fatalf("lost: %v, want ErrFenced naming the room", err)
		}
	case <-ctx.Done():
		t.Fatal("the paused holder was not told it lost the room")
	}
	if err := a.Release(ctx, old); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("release by the fenced holder: %v, want ErrNotHolder", err)
	}
	if owner, ok, _ := b.Owner(ctx, "r", Publisher); !ok || owner != taken {
		t.Fatalf("owner %+v %v, want the new holder %+v", owner, ok, taken)
	}
}

func TestRedisWrongPassword(t *testing.T) {
	srv := redistest.Start(t, "right-secret")
	for _, url := range []string{"redis://:wrong@" + srv.Addr + "/0", "redis://" + srv.Addr + "/0"} {
		_, err := NewRedis(context.Background(), RedisOptions{URL: url, Node: "a", OpTimeout: time.Second})
		if err == nil || (!strings.Contains(err.Error(), "WRONGPASS") && !strings.Contains(err.Error(), "NOAUTH")) {
			t.Fatalf("%s: %v, want an authentication error", RedactURL(url), err)
		}
		if strings.Contains(err.Error(), "wrong@") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
	if _, err := NewRedis(context.Background(), RedisOptions{URL: "http://" + srv.Addr, Node: "a"}); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Fatalf("bad scheme: %v", err)
	}
	r := newTestRedis(t, srv.URL(), "a")
	if _, err := r.Claim(context.Background(), Request{Room: "r", Kind: Publisher, Holder: "s"}); err != nil {
		t.Fatalf("right password: %v", err)
	}
}

// TestRedisRestart: Redis killed and restarted empty while a room is held. Meanwhile new
// claims fail with ErrUnavailable and the holder keeps its room; afterwards the lease is
// re-asserted with its token, and nobody else can take the room.
func TestRedisRestart(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := redistest.Start(t, "")
	a, b, held, lost := holdRoom(t, ctx, srv)
	srv.Kill()
	if _, err := b.Claim(ctx, Request{Room: "q", Kind: Publisher, Holder: "s2"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("claim while Redis is down: %v, want ErrUnavailable", err)
	}
	time.Sleep(2 * testLease) // renewals fail meanwhile
	if a.Available() {
		t.Fatal("node-a still reports Redis available")
	}
	srv.Restart()
	testkit.Eventually(t, ctx, "lease re-asserted", func() bool {
		c, ok, err := b.Owner(ctx, "r", Publisher)
		return err == nil && ok && c == held
	})
	if _, err := b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s2"}); !errors.Is(err, ErrClaimed) {
		t.Fatalf("claim of the re-asserted room: %v, want ErrClaimed", err)
	}
	if _, err := b.Claim(ctx, Request{Room: "q", Kind: Publisher, Holder: "s2"}); err != nil {
		t.Fatalf("claim after the restart: %v", err)
	}
	select {
	case err := <-lost:
		t.Fatalf("the holder lost its room: %v", err)
	default:
	}
}

func TestRedisWatch(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := redistest.Start(t, "")
	a, b := newTestRedis(t, srv.URL(), "node-a"), newTestRedis(t, srv.URL(), "node-b")
	wctx, stop := context.WithCancel(ctx)
	events, err := b.Watch(wctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-ctx.Done():
			t.Fatalf("no %s event", what)
			return Event{}
		}
	}
	c1, _ := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s1"})
	if e := next("claimed"); e != (Event{Claimed, c1}) {
		t.Fatalf("event %+v, want claimed %+v", e, c1)
	}
	_ = a.Release(ctx, c1)
	if e := next("released"); e != (Event{Released, c1}) {
		t.Fatalf("event %+v, want released %+v", e, c1)
	}
	// A holder that dies says nothing: the watch finds the expiry by itself.
	c2, _ := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s2"})
	if e := next("claimed"); e != (Event{Claimed, c2}) {
		t.Fatalf("event %+v, want claimed %+v", e, c2)
	}
	_ = a.Close()
	if e := next("expiry"); e != (Event{Released, c2}) {
		t.Fatalf("event %+v, want released %+v after the lease expired", e, c2)
	}
	// After a Redis restart the watch subscribes again and reports what it missed.
	srv.Kill()
	srv.Restart()
	c3, err := b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s3"})
	for err != nil && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		c3, err = b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s3"})
	}
	if e := next("claimed after restart"); e != (Event{Claimed, c3}) {
		t.Fatalf("event %+v, want claimed %+v", e, c3)
	}
	stop()
	for range events {
	}
}

// TestRedisRenewalAfterRelease: a renewal that reaches Redis just after the release of its
// lease writes it back (the key is gone, no newer token exists); the node deletes it again at
// once, so the room is free.
func TestRedisRenewalAfterRelease(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := redistest.Start(t, "")
	a, b := newTestRedis(t, srv.URL(), "node-a"), newTestRedis(t, srv.URL(), "node-b")
	c, err := a.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.RenewAfterRelease(ctx, c); err != nil || res != 2 {
		t.Fatalf("renewal after the release: %d %v, want 2 (written back)", res, err)
	}
	if owner, ok, err := b.Owner(ctx, "r", Publisher); err != nil || ok {
		t.Fatalf("room still owned by %+v (%v) after its release", owner, err)
	}
	if _, err := b.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "s2"}); err != nil {
		t.Fatalf("claim after the release: %v", err)
	}
}
