package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Defaults of FailoverOptions: the watch page's (web/static/failover.js, watch.js) where it
// has one.
const (
	// DefaultSilence is how long a session may go without RTP before its node is probed.
	DefaultSilence = 500 * time.Millisecond
	// DefaultDisconnected is how long an ICE-disconnected session whose node still answers
	// gets to recover by itself (the page's 3 s).
	DefaultDisconnected = 3 * time.Second
	// DefaultProbeTimeout bounds a node's /healthz probe (the page's PROBE_MS).
	DefaultProbeTimeout = time.Second
	// DefaultStale is how long a session of a node that answers may stay silent before it
	// is replaced by a new one on the same node (the page's NO_MEDIA_MS).
	DefaultStale = 10 * time.Second
	// DefaultOfferTimeout bounds one WHEP offer/answer exchange.
	DefaultOfferTimeout = 5 * time.Second
	// connectTimeout is how long a session may take to connect after its answer (the page's).
	connectTimeout = 15 * time.Second
)

// FailoverOptions configure PlayWithFailover.
type FailoverOptions struct {
	// Options configure each WHEP session. OnTrack must be nil: the viewer reads the
	// tracks itself and hands their packets to OnRTP.
	Options
	// Kinds are the kinds offered (video and audio when empty), as in Play.
	Kinds []webrtc.RTPCodecType
	// Nodes are other nodes' base URLs (http://host:port), as the watch page's ?nodes=.
	Nodes []string
	// NoDiscovery leaves out GET /api/nodes on the first node (the cluster registry; it
	// needs an admin token when the node has auth on).
	NoDiscovery bool
	// OnRTP gets every RTP packet of every session, from the track's reading goroutine
	// (one per track). pkt and its payload are valid only during the call.
	OnRTP func(s FailoverSession, track *webrtc.TrackRemote, pkt *rtp.Packet)
	// Silence, Disconnected, Stale, ProbeTimeout and OfferTimeout: the Default* constants
	// when zero.
	Silence, Disconnected, Stale, ProbeTimeout, OfferTimeout time.Duration
	// Backoff is the wait before each attempt, the last one repeated (the page's 250 ms,
	// 500 ms, 1 s, 2 s, 4 s, 5 s when empty); it starts again once a session connects.
	Backoff []time.Duration
	// Logger gets a line per loss, move and recovery (slog.Default when nil).
	Logger *slog.Logger
}

// FailoverSession identifies one WHEP session of a FailoverViewer.
type FailoverSession struct {
	Index int    // 1 for the first session, one more for each later one
	Node  string // base URL of the node it plays from
}

// Recovery is one loss of a session and the viewer's return to playing.
type Recovery struct {
	From, To     string    // node base URLs (the same node when it was not given up)
	Reason       string    // why the session was taken as lost
	LastMedia    time.Time // the last RTP of the lost session (its start if it had none)
	DetectedAt   time.Time // when the loss was decided
	FirstMediaAt time.Time // the first RTP of the session that plays again
	Attempts     int       // WHEP offers it took
}

// Gap is how long the viewer received nothing: from the lost session's last RTP to the
// first RTP of the new one.
func (r Recovery) Gap() time.Duration { return r.FirstMediaAt.Sub(r.LastMedia) }

// FailoverViewer is a WHEP viewer that follows the watch page's rules when its session is
// lost: it probes the node, moves to the next known node (round robin), backs off, and
// plays again. Start it with PlayWithFailover; it runs until Close, until the context
// given to PlayWithFailover ends, or until a server refuses it for good (Err).
type FailoverViewer struct {
	opts  FailoverOptions
	path  string // the room's path on every node: "whep/{room}"
	nodes *nodeList
	probe nodeProber
	log   *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}  // closed when run returns
	closers sync.WaitGroup // sessions being ended in the background

	playing     chan struct{} // closed at the first RTP of any session
	playingOnce sync.Once

	mu         sync.Mutex
	current    FailoverSession
	pending    *Recovery // a loss not yet recovered from
	recoveries []Recovery
	err        error
}

// sessionState is what the viewer follows of one session.
type sessionState struct {
	info      FailoverSession
	started   time.Time
	lastMedia atomic.Int64 // unix nanoseconds of the last RTP (the start until the first)
	gotMedia  atomic.Bool
}

func (st *sessionState) last() time.Time { return time.Unix(0, st.lastMedia.Load()) }

// PlayWithFailover starts a FailoverViewer of the room at whepURL
// (http://host:port/whep/{room}). It checks its arguments and returns at once; the viewer
// connects in the background (Playing tells when media arrives). ctx bounds the viewer's
// whole life.
func PlayWithFailover(ctx context.Context, whepURL string, opts FailoverOptions) (*FailoverViewer, error) {
	first, roomPath, err := splitWHEP(whepURL)
	if err != nil {
		return nil, fmt.Errorf("whep failover: %w", err)
	}
	if opts.OnTrack != nil {
		return nil, errors.New("whep failover: Options.OnTrack must be nil (packets go to OnRTP)")
	}
	for _, d := range opts.Backoff {
		if d <= 0 {
			return nil, fmt.Errorf("whep failover: backoff %v: must be positive", d)
		}
	}
	backoff := opts.Backoff
	if len(backoff) == 0 {
		backoff = defaultBackoff
	}
	nodes := newNodeList(first, backoff)
	for _, n := range opts.Nodes {
		if _, err := nodeBase(n); err != nil {
			return nil, fmt.Errorf("whep failover: %w", err)
		}
		nodes.add(n)
	}
	opts.Silence = cmp.Or(opts.Silence, DefaultSilence)
	opts.Disconnected = cmp.Or(opts.Disconnected, DefaultDisconnected)
	opts.Stale = cmp.Or(opts.Stale, DefaultStale)
	opts.ProbeTimeout = cmp.Or(opts.ProbeTimeout, DefaultProbeTimeout)
	opts.OfferTimeout = cmp.Or(opts.OfferTimeout, DefaultOfferTimeout)
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	log := cmp.Or(opts.Logger, slog.Default()).With("room", path.Base(roomPath))
	v := &FailoverViewer{opts: opts, path: roomPath, nodes: nodes, log: log,
		done: make(chan struct{}), playing: make(chan struct{})}
	// The node list is asked with the sessions' token and headers.
	v.probe = nodeProber{client: httpClient, timeout: opts.ProbeTimeout,
		auth: (&Session{token: opts.Token, header: opts.Header}).authorize}
	v.ctx, v.cancel = context.WithCancel(ctx)
	go v.run()
	return v, nil
}

// Playing is closed when the first RTP packet arrives.
func (v *FailoverViewer) Playing() <-chan struct{} { return v.playing }

// Done is closed when the viewer has stopped (Close, its context, or Err).
func (v *FailoverViewer) Done() <-chan struct{} { return v.done }

// Err is why the viewer stopped by itself: a server refused it for good (400, 401, 403,
// 406). Nil while it runs and after Close.
func (v *FailoverViewer) Err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

// Node is the base URL of the node the viewer plays from (or tries next).
func (v *FailoverViewer) Node() string { return v.nodes.current() }

// Nodes are the nodes the viewer knows, the first one first.
func (v *FailoverViewer) Nodes() []string { return v.nodes.known() }

// Moves is how many times the viewer changed node.
func (v *FailoverViewer) Moves() int { return v.nodes.moveCount() }

// Session is the latest session started.
func (v *FailoverViewer) Session() FailoverSession {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.current
}

// Recoveries are the losses the viewer recovered from, oldest first.
func (v *FailoverViewer) Recoveries() []Recovery {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Recovery(nil), v.recoveries...)
}

// Close stops the viewer, ends its session (DELETE) and waits for its goroutines, or for
// ctx.
func (v *FailoverViewer) Close(ctx context.Context) error {
	v.cancel()
	finished := make(chan struct{})
	go func() {
		<-v.done
		v.closers.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("whep failover: close: %w", ctx.Err())
	}
}

// run plays until the viewer stops: one session after another, each watched until it is
// lost, with the page's backoff between attempts.
func (v *FailoverViewer) run() {
	defer close(v.done)
	if !v.opts.NoDiscovery {
		v.discover(v.nodes.current())
	}
	for v.ctx.Err() == nil {
		st, sess, err := v.open(v.nodes.current())
		if err != nil {
			if v.ctx.Err() != nil {
				return
			}
			delay, fatal := v.refused(st.info.Node, err)
			if fatal {
				v.mu.Lock()
				v.err = err
				v.mu.Unlock()
				v.log.Error("whep failover: refused for good", "node", st.info.Node, "err", err.Error())
				return
			}
			if !v.sleep(delay) {
				return
			}
			continue
		}
		reason, move := v.watch(st, sess)
		v.closeInBackground(sess)
		if v.ctx.Err() != nil {
			return
		}
		if !v.sleep(v.lost(st, reason, move)) {
			return
		}
	}
}
