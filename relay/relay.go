// Package relay owns the cascade between nodes: a node that has viewers of a room live on
// another node pulls the room over one server-to-server WHEP session (every simulcast
// layer, authenticated with the cluster secret) and republishes it into its own room
// (sfu.PublishRelay), so any number of local viewers cost the origin one relay. A node with
// relays can be the parent of others: a tree, each relay's parent chosen by load from the
// cluster registry (tree.go). An H.265/AV1 room's alternate H.264 video travels beside the
// relay over a second upstream session (alternate.go). The room is located through an
// OriginLocator, which the cluster's node registry implements. It also owns the LL-HLS
// origin shield (Shield): /hls/ of a room transcoded on another node, fetched from it once
// per URL whatever the number of waiting clients.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/sfu"
)

// OriginLocator says which node this node should relay a room from: its origin (the node
// of its publisher) or a parent edge that relays it already.
type OriginLocator interface {
	// Origin returns the node's id and base URL as the other nodes reach it
	// ("http://10.0.0.5:8080"); ok is false when the room is live on no other node.
	Origin(ctx context.Context, room string) (nodeID, baseURL string, ok bool, err error)
}

// Defaults of Options.
const (
	DefaultLinger       = 30 * time.Second
	DefaultReadyTimeout = 5 * time.Second
	// MaxHops bounds a chain of relays (a misrouting locator cannot loop forever).
	MaxHops = 8
)

// Options configure a Manager.
type Options struct {
	SFU     *sfu.SFU
	Locator OriginLocator
	NodeID  string // this node's id: a locator answer naming it is no relay
	Secret  string // the cluster secret, the relays' bearer token on the upstream node
	// Registry, when set, lets a relay pick its parent among the origin and the nodes that
	// relay the room already, by load (tree.go); nil: every relay comes from the origin.
	Registry cluster.Registry
	// Fanout is how many relays of one room this node serves before the others look for
	// another parent (0: DefaultFanout); advertised in the heartbeat (AddLoad).
	Fanout int
	// Linger keeps a relay after its last local viewer left (0: DefaultLinger), so a
	// viewer's reload or a short gap in the audience does not cost a new relay.
	Linger time.Duration
	// ReadyTimeout bounds the wait for the upstream's tracks (0: DefaultReadyTimeout).
	ReadyTimeout time.Duration
	HTTPClient   *http.Client // nil: a client of the relay's own
	// LoopbackOnly and SettingEngine are those of client.Options (tests).
	LoopbackOnly  bool
	SettingEngine func(*webrtc.SettingEngine)
	Logger        *slog.Logger
}

// Errors of Prepare.
var (
	ErrTooManyHops = fmt.Errorf("relay: more than %d relays in a chain", MaxHops)
	ErrClosed      = errors.New("relay: shutting down")
	errNotRemote   = errors.New("relay: room live on no other node")
	errReplaced    = errors.New("relay: a local publisher replaced the relay")
)

// Manager keeps one relay per room that local viewers (or child relays) watch.
type Manager struct {
	opts Options
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	relays map[string]*roomRelay
}

// roomRelay is one room's relay: its users are the local sessions that need it.
type roomRelay struct {
	room   string
	hops   int
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan struct{} // closed after the first connection succeeded or failed (err)
	err    error
	done   chan struct{}

	users  int         // guarded by Manager.mu
	linger *time.Timer // guarded by Manager.mu

	upstream atomic.Pointer[string]            // the node relayed from
	link     atomic.Pointer[cluster.RelayLink] // parent and depth while connected (nil between sessions)
	avoid    string                            // a parent whose session just ended (run's goroutine only)
	connects atomic.Int64                      // upstream sessions opened
}

// New returns a Manager with no relays.
func New(opts Options) (*Manager, error) {
	if opts.SFU == nil || opts.Locator == nil {
		return nil, errors.New("relay: SFU and Locator are required")
	}
	if opts.Secret == "" {
		return nil, errors.New("relay: the cluster secret is required (the upstream node authenticates relays by it)")
	}
	if opts.Linger <= 0 {
		opts.Linger = DefaultLinger
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.Fanout <= 0 {
		opts.Fanout = DefaultFanout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Manager{opts: opts, log: opts.Logger.With("component", "relay"), ctx: ctx, stop: stop,
		relays: map[string]*roomRelay{}}, nil
}

// Prepare implements signaling.Relays: when room is not live here but the locator names
// another node, it starts the room's relay (or joins the running one) and returns when the
// relay's tracks are here. release ends this use; the relay ends Linger after the last.
func (m *Manager) Prepare(ctx context.Context, room string, hops int) (release func(), err error) {
	if hops >= MaxHops {
		return nil, ErrTooManyHops
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	rr := m.relays[room]
	if rr == nil {
		if info, ok := m.opts.SFU.Room(room); ok && info.Live && !info.Relayed {
			m.mu.Unlock()
			return func() {}, nil // its origin is here
		}
		rr = m.start(room, hops)
	}
	rr.users++
	if rr.linger != nil {
		rr.linger.Stop()
		rr.linger = nil
	}
	m.mu.Unlock()
	release = sync.OnceFunc(func() { m.release(rr) })
	select {
	case <-rr.ready:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	if rr.err != nil {
		release()
		if errors.Is(rr.err, errNotRemote) {
			return func() {}, nil // live nowhere else: the SFU answers for itself
		}
		return nil, rr.err
	}
	return release, nil
}

// start makes the room's relay and its goroutine. Called with m.mu held.
func (m *Manager) start(room string, hops int) *roomRelay {
	ctx, cancel := context.WithCancel(m.ctx)
	rr := &roomRelay{room: room, hops: hops, ctx: ctx, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{})}
	m.relays[room] = rr
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.run(rr)
	}()
	return rr
}

func (m *Manager) release(rr *roomRelay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rr.users--
	if rr.users > 0 || m.closed {
		return
	}
	rr.linger = time.AfterFunc(m.opts.Linger, func() { m.expire(rr) })
}

// expire ends a relay whose users are all gone since Linger.
func (m *Manager) expire(rr *roomRelay) {
	m.mu.Lock()
	if rr.users > 0 {
		m.mu.Unlock()
		return
	}
	m.forget(rr)
	m.mu.Unlock()
	rr.cancel()
}

// forget removes rr from the map if it is still the room's relay. Called with m.mu held.
func (m *Manager) forget(rr *roomRelay) {
	if m.relays[rr.room] == rr {
		delete(m.relays, rr.room)
	}
}

// Info describes one room's relay.
type Info struct {
	Room     string `json:"room"`
	Upstream string `json:"upstream"`        // the node relayed from
	Depth    int    `json:"depth,omitempty"` // relays from the origin to here, this one included (0: not connected)
	Users    int    `json:"users"`           // local sessions (viewers, child relays) using it
	Connects int64  `json:"connects"`        // upstream sessions opened so far
}

// Relays describes the running relays.
func (m *Manager) Relays() map[string]Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Info, len(m.relays))
	for room, rr := range m.relays {
		info := Info{Room: room, Users: rr.users, Connects: rr.connects.Load()}
		if up := rr.upstream.Load(); up != nil {
			info.Upstream = *up
		}
		if link := rr.link.Load(); link != nil {
			info.Depth = link.Depth
		}
		out[room] = info
	}
	return out
}

// Register adds GET /api/relays: the running relays by room (Info).
func (m *Manager) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/relays", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_ = json.NewEncoder(w).Encode(m.Relays())
	})
}

// Close ends every relay and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	for _, rr := range m.relays {
		if rr.linger != nil {
			rr.linger.Stop()
		}
	}
	m.mu.Unlock()
	m.stop()
	m.wg.Wait()
}
