// Package testkit holds the helpers that tests across Glint share: a test context, polling
// with Eventually, a goroutine-safe log sink, the loopback-only pion SettingEngine, external
// tools (RequireTool, Command, ProbeStreams), child processes (Proc) and strict checks of
// HLS playlist tags (CheckDateRange).
//
// It is a leaf: it imports only the standard library and pion, never a Glint package, so that
// the internal tests of any package can use it. The in-process Glint node for tests is in
// internal/testnode.
package testkit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// pollInterval is how often Eventually and LogSink.WaitFor look again.
const pollInterval = 20 * time.Millisecond

// Context returns a context that ends after d, or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds; it fails the test with "timed out waiting for what"
// when ctx ends first.
func Eventually(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(pollInterval):
		}
	}
}

// Go runs fn in a goroutine with a context that ends when ctx does or the test ends; the
// test's cleanup waits for fn to return.
func Go(t testing.TB, ctx context.Context, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { fn(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// Tail returns the last n bytes of s, marked with "..." when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
