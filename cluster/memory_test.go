package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestMemoryClaims(t *testing.T) {
	type step struct {
		op      string // "claim", "release" (of the step's holder's last claim), "owner"
		room    string
		kind    Kind
		holder  string
		replace bool
		wantErr error
		owner   string // for "owner": the holder expected, "" for none
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first claim wins, second is refused", []step{
			{op: "claim", room: "r", kind: Publisher, holder: "a"},
			{op: "claim", room: "r", kind: Publisher, holder: "b", wantErr: ErrClaimed},
			{op: "owner", room: "r", kind: Publisher, owner: "a"},
		}},
		{"release frees the room", []step{
			{op: "claim", room: "r", kind: Publisher, holder: "a"},
			{op: "release", room: "r", kind: Publisher, holder: "a"},
			{op: "owner", room: "r", kind: Publisher, owner: ""},
			{op: "claim", room: "r", kind: Publisher, holder: "b"},
			{op: "owner", room: "r", kind: Publisher, owner: "b"},
		}},
		{"replace takes over and fences the old holder", []step{
			{op: "claim", room: "r", kind: Publisher, holder: "a"},
			{op: "claim", room: "r", kind: Publisher, holder: "b", replace: true},
			{op: "release", room: "r", kind: Publisher, holder: "a", wantErr: ErrNotHolder},
			{op: "owner", room: "r", kind: Publisher, owner: "b"},
		}},
		{"kinds and rooms are independent", []step{
			{op: "claim", room: "r", kind: Ingest, holder: "rtmp-1"},
			{op: "claim", room: "r", kind: Publisher, holder: "s1"},
			{op: "claim", room: "q", kind: Ingest, holder: "rtmp-2"},
			{op: "claim", room: "r", kind: Ingest, holder: "srt-3", wantErr: ErrClaimed},
			{op: "owner", room: "r", kind: Ingest, owner: "rtmp-1"},
		}},
		{"double release is refused", []step{
			{op: "claim", room: "r", kind: Publisher, holder: "a"},
			{op: "release", room: "r", kind: Publisher, holder: "a"},
			{op: "release", room: "r", kind: Publisher, holder: "a", wantErr: ErrNotHolder},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := NewMemory("node-a")
			last := map[string]Claim{}
			for i, s := range tt.steps {
				var err error
				switch s.op {
				case "claim":
					var c Claim
					c, err = m.Claim(ctx, Request{Room: s.room, Kind: s.kind, Holder: s.holder, Replace: s.replace})
					if err == nil {
						if c.Node != "node-a" || c.Holder != s.holder || c.Room != s.room || c.Kind != s.kind {
							t.Fatalf("step %d: claim %+v", i, c)
						}
						last[s.holder] = c
					}
				case "release":
					err = m.Release(ctx, last[s.holder])
				case "owner":
					c, ok, oerr := m.Owner(ctx, s.room, s.kind)
					if oerr != nil || ok != (s.owner != "") || c.Holder != s.owner {
						t.Fatalf("step %d: owner %+v %v %v, want %q", i, c, ok, oerr, s.owner)
					}
				}
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
					t.Fatalf("step %d (%s %s): err %v, want %v", i, s.op, s.holder, err, s.wantErr)
				}
			}
		})
	}
}

func TestClaimedErrorNamesOwner(t *testing.T) {
	ctx := context.Background()
	m := NewMemory("node-a")
	first, err := m.Claim(ctx, Request{Room: "r", Kind: Ingest, Holder: "rtmp-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Claim(ctx, Request{Room: "r", Kind: Ingest, Holder: "rtmp-2"})
	var ce *ClaimedError
	if !errors.As(err, &ce) || ce.Owner != first {
		t.Fatalf("err %v, want a ClaimedError with owner %+v", err, first)
	}
	if first.String() != "rtmp-1 on node-a" {
		t.Fatalf("String %q", first.String())
	}
}

func TestTokensIncrease(t *testing.T) {
	ctx := context.Background()
	m := NewMemory("n")
	var prev uint64
	for i := range 5 {
		c, err := m.Claim(ctx, Request{Room: fmt.Sprint(i % 2), Kind: Publisher, Holder: "h", Replace: true})
		if err != nil || c.Token <= prev {
			t.Fatalf("claim %d: %+v %v after token %d", i, c, err, prev)
		}
		prev = c.Token
	}
}

func TestWatch(t *testing.T) {
	m := NewMemory("n")
	ctx, cancel := context.WithCancel(context.Background())
	events, err := m.Watch(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "a"})
	_, _ = m.Claim(ctx, Request{Room: "other", Kind: Publisher, Holder: "x"})
	b, _ := m.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "b", Replace: true})
	if err := m.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	want := []Event{{Claimed, a}, {Claimed, b}, {Released, b}}
	for i, w := range want {
		select {
		case e := <-events:
			if e != w {
				t.Fatalf("event %d: %+v, want %+v", i, e, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d: none", i)
		}
	}
	cancel()
	select {
	case _, open := <-events:
		if open {
			t.Fatal("event after the watch ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed when ctx ended")
	}
}

func TestWatchLosesOldestWhenBehind(t *testing.T) {
	m := NewMemory("n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := m.Watch(ctx, "r")
	var last Claim
	for range watchBuffer + 5 {
		last, _ = m.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: "h", Replace: true})
	}
	var got Event
	for range watchBuffer {
		got = <-events
	}
	if got.Claim != last {
		t.Fatalf("last event %+v, want the latest claim %+v", got.Claim, last)
	}
}

// TestConcurrentClaims: of many holders racing for one room exactly one wins, and the room
// is free again once it releases (run with -race).
func TestConcurrentClaims(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewMemory("n")
	events, _ := m.Watch(ctx, "r")
	go func() {
		for range events {
		}
	}()
	var wg sync.WaitGroup
	wins := make(chan Claim, 32)
	for i := range 32 {
		wg.Go(func() {
			c, err := m.Claim(ctx, Request{Room: "r", Kind: Publisher, Holder: fmt.Sprint(i)})
			switch {
			case err == nil:
				wins <- c
			case !errors.Is(err, ErrClaimed):
				t.Errorf("claim %d: %v", i, err)
			}
			_, _, _ = m.Owner(ctx, "r", Publisher)
		})
	}
	wg.Wait()
	close(wins)
	var won []Claim
	for c := range wins {
		won = append(won, c)
	}
	if len(won) != 1 {
		t.Fatalf("%d winners, want 1", len(won))
	}
	if err := m.Release(ctx, won[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Owner(ctx, "r", Publisher); ok {
		t.Fatal("room still held after release")
	}
}
