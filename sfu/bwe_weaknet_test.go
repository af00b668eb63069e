package sfu_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// The weak-network matrix: each kind of viewer feedback (transport-cc, REMB only, receiver
// reports only) behind each impaired path (600 kbit/s, 250 kbit/s, 5 % random loss), with a
// three-layer simulcast publisher at the full rate (l ≈ 150, m ≈ 500, h ≈ 1600 kbit/s). The
// path is the in-process bottleneck of bwe_test.go (a rate with a 60 ms queue, dropping
// beyond it, as tc's tbf with `latency 50ms` does) followed by random loss at the viewer's
// input (as nftables' numgen rule does); each viewer has its own. A viewer joins through its
// impaired path and must, from the frames it completes: settle on a layer its path carries
// within weakSettle, then decode ≥ 95 % of the frames published, freeze no longer than
// weakMaxFreeze and see frames at most weakMaxLatency late (p99) until weakObserve; once the
// path is freed it must be back on h within weakClimb. These are issue 12's targets, held
// as they are: the only allowance for a loaded machine is the time the whole test process
// stood still (stallMeter, bwe_stall_test.go), taken off each freeze, frame latency and
// climb it fell into. While the limit holds the allocator keeps probing for a higher layer
// (it cannot know the limit stays): the window after settling must contain such probes, so
// the targets also say that a probe on a path that is still full costs no freeze. The whole
// matrix takes 80-100 s.
const (
	weakSettle     = 5 * time.Second
	weakObserve    = 14 * time.Second // from the join: the settled part is the rest
	weakClimb      = 10 * time.Second
	weakMaxFreeze  = 500 * time.Millisecond
	weakMaxLatency = 400 * time.Millisecond
	weakMinDecoded = 0.95
)

// weakPath is one impairment and the layers that fit through it.
type weakPath struct {
	name    string
	kbps    int64 // 0: no rate limit
	lossPct int32
	fitting string // the layers a viewer may settle on
}

var weakPaths = []weakPath{
	{name: "600kbps", kbps: 600, fitting: "lm"},
	{name: "250kbps", kbps: 250, fitting: "l"},
	// Random loss is no sign of a full path: h fits. A lower layer is tolerated (a REMB
	// receiver may read loss as congestion, as this test's does, by libwebrtc's old AIMD
	// rule); the climb back to h once the loss ends is checked.
	{name: "5pct-loss", lossPct: 5, fitting: "lmh"},
}

// weakFeedbacks are the kinds of viewer, by the congestion feedback they send.
var weakFeedbacks = []string{"transport-cc", "remb-only", "rr-only"}

func TestBWEWeakNetwork(t *testing.T) {
	for _, path := range weakPaths {
		t.Run(path.name, func(t *testing.T) { testWeakPath(t, path) })
	}
}

// weakViewer is one viewer of the matrix: its path, its session and what it completed.
type weakViewer struct {
	feedback string
	session  string // the SFU's id of its WHEP session
	shaped   *shapedConn
	lossy    *randomLossConn
	frames   *weakFrames
	joined   time.Time
}

func testWeakPath(t *testing.T, path weakPath) {
	runWeakPath(t, path, testnode.Options{}, weakFeedbacks)
}

// runWeakPath runs one path of the matrix on a node started with opts, for viewers of the
// feedback kinds feedbacks.
func runWeakPath(t *testing.T, path weakPath, opts testnode.Options, feedbacks []string) {
	ctx := testkit.Context(t, 90*time.Second)
	stalls := startStallMeter(t, ctx)
	srv := testnode.Start(t, opts)
	clock := startTimedSimulcast(t, ctx, srv, "weak", fullRate.layerBytes())
	time.Sleep(1200 * time.Millisecond) // the layers' bitrates measured

	var viewers []*weakViewer
	for _, fb := range feedbacks {
		viewers = append(viewers, joinWeakViewer(t, ctx, srv.WHEP("weak"), fb, path, clock))
	}
	last := viewers[len(viewers)-1].joined
	time.Sleep(time.Until(last.Add(weakSettle)))
	probesAtSettle := make([]uint64, len(viewers))
	for i, v := range viewers {
		probesAtSettle[i] = v.probes(srv)
	}
	time.Sleep(time.Until(last.Add(weakObserve)))
	results := make([]weakResult, len(viewers))
	for i, v := range viewers {
		results[i] = v.frames.settledResult(v.joined, v.joined.Add(weakObserve), path.fitting, clock, stalls)
		results[i].probes = v.probes(srv) - probesAtSettle[i]
	}
	lifted := time.Now()
	for _, v := range viewers {
		v.shaped.setKbps(0)
		v.lossy.pct.Store(0)
	}
	testkit.Eventually(t, ctx, "every viewer back on h after the path is freed", func() bool {
		done := true
		for i, v := range viewers {
			if results[i].climb < 0 {
				if at, ok := v.frames.firstOn('h', lifted); ok {
					results[i].climb, results[i].climbStalled = at.Sub(lifted), stalls.within(lifted, at)
				} else if time.Since(lifted) < 2*weakClimb {
					done = false
				}
			}
		}
		return done
	})
	t.Logf("| feedback | path | layer | settled in | decoded | max freeze | latency p99 | climb to h | probe packets | stalled |")
	for i, v := range viewers {
		t.Logf("| %s | %s | %s |", v.feedback, path.name, results[i])
	}
	for i, v := range viewers {
		results[i].check(t, v.feedback, path)
	}
}

// probes returns how many probe packets the SFU has sent the viewer.
func (v *weakViewer) probes(srv *testnode.Node) uint64 {
	sess, ok := srv.SFU.Session(v.session)
	if !ok {
		return 0
	}
	var n uint64
	for _, d := range sess.DownTracks() {
		n += d.Stats().Probes
	}
	return n
}

// joinWeakViewer plays url as a viewer of the feedback kind through its own impaired path.
func joinWeakViewer(t *testing.T, ctx context.Context, url, feedback string, impair weakPath, clock *frameClock) *weakViewer {
	t.Helper()
	v := &weakViewer{feedback: feedback, shaped: newShapedConn(testkit.LoopbackUDP(t), impair.kbps), frames: &weakFrames{}}
	// The random loss starts once the viewer is connected. The SFU answers as the DTLS server,
	// so it is up once it sent its last flight; where the loss takes that flight, the viewer's
	// handshake completes only at its retransmission a second later, and a pion viewer then
	// reads the SRTP it buffered meanwhile: a second of frames late at once. That is a join on
	// a lossy path, not the steady state this matrix measures (join_test.go measures joins).
	v.lossy = &randomLossConn{PacketConn: v.shaped}
	onTrack := func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if track.Kind() == webrtc.RTPCodecTypeVideo {
				v.frames.add(pkt.Payload, pkt.SequenceNumber, pkt.Marker, time.Now())
			}
		}
	}
	switch feedback {
	case "transport-cc":
		mux := webrtc.NewICEUDPMux(nil, v.lossy)
		t.Cleanup(func() { _ = mux.Close() })
		sess, err := client.Play(ctx, url, client.Options{LoopbackOnly: true, OnTrack: onTrack,
			SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) }})
		if err != nil {
			t.Fatalf("play: %v", err)
		}
		t.Cleanup(func() { _ = sess.Close(context.Background()) })
		if err := sess.Connected(ctx); err != nil {
			t.Fatalf("viewer connect: %v", err)
		}
		v.session = path.Base(sess.Location())
	default:
		_, location := feedbackViewer(t, ctx, url, v.lossy, feedback == "remb-only", onTrack)
		v.session = path.Base(location)
	}
	v.lossy.pct.Store(impair.lossPct)
	v.joined = time.Now()
	return v
}

// frameClock is when the publisher sent each frame number.
type frameClock struct {
	mu   sync.Mutex
	sent []time.Time // index: frame number
}

func (c *frameClock) record(n int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.sent) <= n {
		c.sent = append(c.sent, time.Time{})
	}
	c.sent[n] = at
}

// sentAt returns when frame n was sent (zero when it was not).
func (c *frameClock) sentAt(n uint32) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int(n) >= len(c.sent) {
		return time.Time{}
	}
	return c.sent[n]
}

// framesIn returns the numbers of the frames sent within [from, to).
func (c *frameClock) framesIn(from, to time.Time) []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ns []uint32
	for n, at := range c.sent {
		if !at.Before(from) && at.Before(to) {
			ns = append(ns, uint32(n))
		}
	}
	return ns
}

// startTimedSimulcast is startSizedSimulcast (bwe_test.go) that records when each frame was
// sent.
func startTimedSimulcast(t *testing.T, ctx context.Context, srv *testnode.Node, room string, layerBytes map[string]int) *frameClock {
	t.Helper()
	layers, keyReq := simulcastPublisherPLI(t, ctx, srv.WHIP(room))
	clock := &frameClock{}
	testkit.Go(t, ctx, func(ctx context.Context) {
		streamSimulcast(ctx, layers, nil, func(n int, rid string) [][]byte {
			if rid == "l" {
				clock.record(n, time.Now())
			}
			return sizedFrame(n, rid, layerBytes[rid], n%60 == 0 || keyReq[rid].Swap(false))
		})
	})
	waitLayers(t, ctx, srv, room)
	return clock
}

// weakFrames tracks the frames one viewer completed (every packet from the first to the
// marker, in sequence), in the order it completed them.
type weakFrames struct {
	mu      sync.Mutex
	partial map[uint32]*partialFrame
	done    map[uint32]bool
	log     []completedFrame
}

type partialFrame struct {
	seqs              map[uint16]bool
	first, last       uint16
	hasFirst, hasLast bool
}

type completedFrame struct {
	n     uint32
	layer byte
	at    time.Time
}

func (w *weakFrames) add(payload []byte, seq uint16, marker bool, at time.Time) {
	if len(payload) < 7 {
		return
	}
	n := binary.BigEndian.Uint32(payload[2:])
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.partial == nil {
		w.partial, w.done = map[uint32]*partialFrame{}, map[uint32]bool{}
	}
	if w.done[n] {
		return
	}
	f := w.partial[n]
	if f == nil {
		f = &partialFrame{seqs: map[uint16]bool{}}
		w.partial[n] = f
	}
	f.seqs[seq] = true
	if payload[0]&0x10 != 0 {
		f.first, f.hasFirst = seq, true
	}
	if marker {
		f.last, f.hasLast = seq, true
	}
	if !f.hasFirst || !f.hasLast {
		return
	}
	for s := f.first; s != f.last+1; s++ {
		if !f.seqs[s] {
			return
		}
	}
	w.done[n] = true
	delete(w.partial, n)
	w.log = append(w.log, completedFrame{n: n, layer: payload[len(payload)-1], at: at})
}

// firstOn returns when the first frame of layer completed at or after since.
func (w *weakFrames) firstOn(layer byte, since time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.log {
		if f.layer == layer && !f.at.Before(since) {
			return f.at, true
		}
	}
	return time.Time{}, false
}

// weakResult is one row of the matrix. Each measured time comes with the time the test
// process stood still within it (stallMeter), which the checks take off.
type weakResult struct {
	layer                 byte
	settled               time.Duration // -1: never
	decoded               float64
	maxFreeze, latency    time.Duration // the longest freeze, the frame latency p99
	freezeNet, latencyNet time.Duration // the same, each freeze and latency less the stalls within it
	stalled               time.Duration // stalls within the settled window
	climb                 time.Duration // -1: not (yet)
	climbStalled          time.Duration
	probes                uint64 // probe packets sent from weakSettle after the last join to weakObserve
}

func (r weakResult) String() string {
	settled, climb := "never", "never"
	if r.settled >= 0 {
		settled = fmt.Sprintf("%.1f s", r.settled.Seconds())
	}
	if r.climb >= 0 {
		climb = fmt.Sprintf("%.1f s", r.climb.Seconds())
	}
	return fmt.Sprintf("%c | %s | %.1f %% | %d ms | %d ms | %s | %d | %d ms", max(r.layer, '-'), settled, 100*r.decoded,
		r.maxFreeze.Milliseconds(), r.latency.Milliseconds(), climb, r.probes, (r.stalled + r.climbStalled).Milliseconds())
}

func (r weakResult) check(t *testing.T, feedback string, path weakPath) {
	t.Helper()
	switch {
	case r.settled < 0 || r.settled > weakSettle:
		t.Errorf("%s: did not settle on a fitting layer within %v (%s)", feedback, weakSettle, r)
	case r.decoded < weakMinDecoded:
		t.Errorf("%s: decoded %.1f %% of the frames after settling, want ≥ %.0f %%", feedback, 100*r.decoded, 100*weakMinDecoded)
	case r.freezeNet > weakMaxFreeze:
		t.Errorf("%s: a freeze of %v after settling (%v of it not the process stalling), want none over %v", feedback,
			r.maxFreeze, r.freezeNet, weakMaxFreeze)
	case r.latencyNet > weakMaxLatency:
		t.Errorf("%s: frame latency p99 %v after settling (%v less stalls), want under %v", feedback, r.latency,
			r.latencyNet, weakMaxLatency)
	case path.kbps > 0 && r.layer != 'h' && r.probes == 0:
		t.Errorf("%s: no probe for a higher layer while the limit held (%s): the climb after it proves nothing", feedback, r)
	}
	if r.climb < 0 || r.climb-r.climbStalled > weakClimb {
		t.Errorf("%s: not back on h within %v of the path being freed (%s)", feedback, weakClimb, r)
	}
}

// settledResult measures the viewer that joined at joined, up to end: when it settled (after
// its last frame on a layer outside fitting), and from then on the share of frames published
// that it completed, its longest freeze and its frame latency p99, raw and less the stalls
// within each.
func (w *weakFrames) settledResult(joined, end time.Time, fitting string, clock *frameClock, stalls *stallMeter) weakResult {
	w.mu.Lock()
	log := slices.Clone(w.log)
	w.mu.Unlock()
	r := weakResult{settled: -1, climb: -1}
	settledAt := joined
	for _, f := range log {
		if f.at.Before(end) && strings.IndexByte(fitting, f.layer) < 0 {
			settledAt = f.at
		}
	}
	var inWindow []completedFrame
	for _, f := range log {
		if f.at.After(settledAt) && f.at.Before(end) {
			inWindow = append(inWindow, f)
		}
	}
	if len(inWindow) == 0 {
		return r
	}
	r.layer = inWindow[len(inWindow)-1].layer
	r.settled = inWindow[0].at.Sub(joined)
	from := inWindow[0].at
	r.stalled = stalls.within(from, end)
	// Frames sent from the first settled one until 500 ms before the end (time to arrive).
	published := clock.framesIn(clock.sentAt(inWindow[0].n), end.Add(-500*time.Millisecond))
	got, prev := map[uint32]bool{}, from
	var latencies, netLatencies []time.Duration
	freeze := func(from, to time.Time) {
		r.maxFreeze = max(r.maxFreeze, to.Sub(from))
		r.freezeNet = max(r.freezeNet, to.Sub(from)-stalls.within(from, to))
	}
	for _, f := range inWindow {
		got[f.n] = true
		freeze(prev, f.at)
		prev = f.at
		if sent := clock.sentAt(f.n); !sent.IsZero() {
			latencies = append(latencies, f.at.Sub(sent))
			netLatencies = append(netLatencies, f.at.Sub(sent)-stalls.within(sent, f.at))
		}
	}
	freeze(prev, end)
	decoded := 0
	for _, n := range published {
		if got[n] {
			decoded++
		}
	}
	if len(published) > 0 {
		r.decoded = float64(decoded) / float64(len(published))
	}
	slices.Sort(latencies)
	slices.Sort(netLatencies)
	r.latency, r.latencyNet = stats.Quantile(latencies, 0.99), stats.Quantile(netLatencies, 0.99)
	return r
}
