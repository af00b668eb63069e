// Package testnode runs an in-process Glint node for tests: the SFU and WHIP/WHEP signaling
// on an httptest server, media on 127.0.0.1 only, with an optional /metrics. It also holds
// the synthetic test peers: a pion WHIP publisher of H.264 + Opus RTP and a WHEP viewer that
// records every packet.
//
// testnode imports sfu, signaling, metrics and client, so the tests that use it must be
// external test packages (package sfu_test, signaling_test...); white-box tests use only
// internal/testkit.
package testnode

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/metrics"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// closeTimeout bounds the SFU's close at the end of a test.
const closeTimeout = 10 * time.Second

// Options adjusts the node before it starts; the zero value is the default test node.
type Options struct {
	SFU       func(*sfu.Options)       // changes the SFU's options (defaults: loopback media, 200 ms PLI interval)
	Signaling func(*signaling.Options) // changes the signaling options
	Metrics   bool                     // serve GET /metrics
	// Handler wraps the served mux (e.g. auth.Authorizer.Protect); nil: the mux itself.
	Handler func(http.Handler) http.Handler
}

// Node is a running test node. Everything it started is closed when the test ends; close
// errors fail the test.
type Node struct {
	SFU  *sfu.SFU
	URL  string         // http base URL of the served Mux
	Mux  *http.ServeMux // the served mux: a test may register more handlers after Start
	Log  *slog.Logger   // the node's logger, writing into Logs
	Logs *testkit.LogSink
	Ctx  context.Context // ends when the test ends, before the SFU closes
}

// Start runs a node until the end of the test.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	log, logs := testkit.NewLogger(t)
	so := sfu.Options{
		Transport:   sfu.TransportConfig{UDPPort: 0, ICEIPs: []string{"127.0.0.1"}, ICETimeout: 3 * time.Second},
		PLIInterval: 200 * time.Millisecond, Logger: log,
	}
	if o.SFU != nil {
		o.SFU(&so)
	}
	media, err := sfu.New(so)
	if err != nil {
		t.Fatalf("start the SFU: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sig := signaling.Options{SFU: media, Logger: log, Context: ctx}
	if o.Signaling != nil {
		o.Signaling(&sig)
	}
	mux := http.NewServeMux()
	signaling.New(sig).Register(mux)
	if o.Metrics {
		mux.Handle("GET /metrics", metrics.Handler(media))
	}
	var served http.Handler = mux
	if o.Handler != nil {
		served = o.Handler(mux)
	}
	hs := httptest.NewServer(served)
	t.Cleanup(func() {
		cancel()
		hs.Close()
		closeCtx, done := context.WithTimeout(context.Background(), closeTimeout)
		defer done()
		if err := media.Close(closeCtx); err != nil {
			t.Errorf("sfu close: %v", err)
		}
	})
	return &Node{SFU: media, URL: hs.URL, Mux: mux, Log: log, Logs: logs, Ctx: ctx}
}

// WHIP is the URL to publish room.
func (n *Node) WHIP(room string) string { return n.URL + "/whip/" + room }

// WHEP is the URL to play room.
func (n *Node) WHEP(room string) string { return n.URL + "/whep/" + room }

// WaitLive waits until room has a live publisher.
func (n *Node) WaitLive(t testing.TB, ctx context.Context, room string) {
	t.Helper()
	testkit.Eventually(t, ctx, "room "+room+" live", func() bool {
		info, ok := n.SFU.Room(room)
		return ok && info.Live
	})
}

// WaitNotLive waits until room has no live publisher (or is gone).
func (n *Node) WaitNotLive(t testing.TB, ctx context.Context, room string) {
	t.Helper()
	testkit.Eventually(t, ctx, "room "+room+" not live", func() bool {
		info, ok := n.SFU.Room(room)
		return !ok || !info.Live
	})
}

// Play is StartViewer on room.
func (n *Node) Play(t testing.TB, ctx context.Context, room string) (*client.Session, *Received) {
	t.Helper()
	return StartViewer(t, ctx, n.WHEP(room))
}
