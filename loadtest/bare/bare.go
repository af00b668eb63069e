// Package bare is a receive-only WHEP viewer that does only what such a viewer must, for
// load generators that run thousands of them: a hand-written SDP offer (no feedback, no
// header extensions), ICE as the controlling agent of one candidate pair on one connected
// UDP socket (checks, consent, answers to the server's checks), DTLS (pion/dtls) for the
// SRTP keys, then a receive loop that reads datagrams in batches (recvmmsg), reads the
// clear RTP headers and decrypts only the first packet of each video frame (where a
// capture-time SEI and the keyframe's SPS sit). It allocates nothing per packet. By default
// it sends no RTCP; with Options.ReceiverReports it sends a receiver report (RFC 3550:
// loss, extended highest sequence number, jitter, LSR/DLSR from the server's sender
// reports, and an SDES CNAME) every interval, as a real player does (reports.go).
// Statistics belong to the caller, which gets every packet through Options.OnPacket.
package bare

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
)

// Kind is a packet's media kind.
type Kind uint8

// Media kinds (0 is none).
const (
	Video Kind = 1 + iota
	Audio
)

// Packet is one RTP packet as the viewer received it.
type Packet struct {
	Kind    Kind
	SSRC    uint32
	Seq     uint16
	TS      uint32
	Marker  bool
	Size    int    // bytes of the RTP packet as decrypted (header and payload)
	Payload []byte // the clear payload (no padding) of the packets decrypted, nil for the others; valid during the call only
	Arrived int64  // Unix ns when the batch holding the packet was read
}

// Options configure a viewer.
type Options struct {
	Token        string       // bearer token of the room, if any
	HTTPClient   *http.Client // nil: http.DefaultClient
	Identity     *Identity    // DTLS certificate; nil: one is generated for this viewer
	LoopbackOnly bool         // use only the answer's loopback candidates
	// OnPacket gets every RTP packet, one at a time, from the goroutine polling the
	// viewer's socket. Payload is set on the first packet of each video frame (the first
	// with a newer timestamp, or the one right after the previous marker).
	OnPacket func(*Packet)
	Group    *Group        // polls the socket once connected; nil: a group of its own
	Batch    int           // datagrams per system call (default 32)
	Silence  time.Duration // nothing received this long ends the session (default 5 s)
	// ReceiverReports is the interval of the viewer's RTCP receiver reports: one compound
	// SRTCP packet (RR with a block per media SSRC received, SDES CNAME) per interval once
	// DTLS is done. 0 sends none, and then the viewer reads no RTCP either.
	ReceiverReports time.Duration
}

// Timings and sizes of the viewer.
const (
	checkInterval   = 50 * time.Millisecond // connectivity checks until one succeeds
	consentInterval = 2 * time.Second       // consent checks afterwards
	maxPacket       = 1500
	readBuffer      = 1 << 20
	maxBatches      = 64 // per poll: a slow consumer still yields to the other viewers
)

// Viewer is one playing session.
type Viewer struct {
	location string
	opts     Options
	sock     *socket
	rx       *receiver
	handleFn func(b []byte, stamp int64) // v.handleDatagram, bound once
	dtls     *dtls.Conn
	group    *Group // polling the socket once connected
	ownGroup *Group // group made for this viewer alone
	cancel   context.CancelFunc
	done     chan struct{} // closed when the session ended (any reason)
	endOnce  sync.Once
	err      error // why it ended, set before done closes
	wg       sync.WaitGroup
}

// Play POSTs an offer to whepURL, connects (ICE, DTLS) and starts receiving; ctx bounds
// the set-up only. Close ends the viewer and must be called.
func Play(ctx context.Context, whepURL string, opts Options) (*Viewer, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.Silence <= 0 {
		opts.Silence = 5 * time.Second
	}
	id := opts.Identity
	if id == nil {
		var err error
		if id, err = NewIdentity(); err != nil {
			return nil, err
		}
	}
	ice := &iceAgent{localUfrag: randomString(8), localPwd: randomString(24), tieBreaker: rand.Uint64()}
	offer := buildOffer(ice.localUfrag, ice.localPwd, id.fingerprint, rand.Uint64()>>2)
	raw, location, err := postOffer(ctx, opts.HTTPClient, whepURL, opts.Token, offer)
	if err != nil {
		return nil, err
	}
	v := &Viewer{location: location, opts: opts, done: make(chan struct{}), group: opts.Group}
	if err := v.connect(ctx, raw, ice, id); err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = v.Close(cleanup) // the set-up error is the one worth reporting
		return nil, err
	}
	return v, nil
}

// connect does ICE and DTLS from the server's answer, polling the socket every
// millisecond meanwhile, then hands the socket to the group.
func (v *Viewer) connect(ctx context.Context, raw string, ice *iceAgent, id *Identity) error {
	ans, err := parseAnswer(raw)
	if err != nil {
		return err
	}
	remote, err := pickCandidate(ans, v.opts.LoopbackOnly)
	if err != nil {
		return err
	}
	if v.sock, err = dialSocket(remote, readBuffer, v.opts.Batch); err != nil {
		return fmt.Errorf("whep: %w", err)
	}
	udpRemote := net.UDPAddrFromAddrPort(remote)
	ice.remoteUfrag, ice.remotePwd, ice.sock, ice.remote = ans.ufrag, ans.pwd, v.sock, udpRemote
	sessCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	v.cancel = cancel
	q := newDTLSQueue(sessCtx, v.sock, &net.UDPAddr{}, udpRemote)
	v.rx = newReceiver(ans.kinds, ice, q, v.opts.OnPacket)
	if v.opts.ReceiverReports > 0 {
		if v.rx.rep, err = newReporter(v.opts.ReceiverReports, ans.clockRates); err != nil {
			return err
		}
	}
	v.rx.lastRx.Store(time.Now().UnixNano())
	v.handleFn = v.handleDatagram
	stopSetup, setupDone := make(chan struct{}), make(chan struct{})
	v.wg.Go(func() {
		defer close(setupDone)
		v.pollUntil(stopSetup)
	})
	v.wg.Go(func() { v.keepAlive(sessCtx, ice) })

	select {
	case <-v.rx.iceDone:
	case <-v.done:
		return fmt.Errorf("whep: ice: %w", v.err)
	case <-ctx.Done():
		return fmt.Errorf("whep: ice: no answer to connectivity checks: %w", ctx.Err())
	}
	if err := v.handshake(ctx, q, udpRemote, ans, id); err != nil {
		return err
	}
	close(stopSetup)
	<-setupDone
	if v.group == nil {
		v.ownGroup = NewGroup(DefaultPollInterval)
		v.group = v.ownGroup
	}
	v.group.add(v)
	v.wg.Go(func() { v.drainDTLS() })
	return nil
}

// pollUntil polls the socket every setupPollInterval until stop closes or the session ends.
func (v *Viewer) pollUntil(stop <-chan struct{}) {
	t := time.NewTicker(setupPollInterval)
	defer t.Stop()
	for v.pollSocket() {
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// pollSocket reads what waits on the socket; false when the session has ended.
func (v *Viewer) pollSocket() bool {
	select {
	case <-v.done:
		return false
	default:
	}
	for range maxBatches {
		more, err := v.sock.poll(v.handleFn)
		if err != nil {
			v.end(fmt.Errorf("whep: receive: %w", err))
			return false
		}
		if !more {
			break
		}
	}
	if v.rx.rep != nil {
		if err := v.rx.rep.sendIfDue(v.rx.lastRx.Load(), v.sock); err != nil {
			v.end(fmt.Errorf("whep: %w", err))
			return false
		}
	}
	return true
}

// handleDatagram takes one datagram with its kernel receive time (0: none).
func (v *Viewer) handleDatagram(b []byte, stamp int64) {
	if stamp == 0 {
		stamp = time.Now().UnixNano()
	}
	v.rx.lastRx.Store(stamp)
	v.rx.handle(b, stamp)
}

var errClosed = errors.New("whep: viewer closed")

// keepAlive sends connectivity checks until one succeeds, then a consent check every
// consentInterval; it ends the session after opts.Silence without a datagram.
func (v *Viewer) keepAlive(ctx context.Context, ice *iceAgent) {
	interval := checkInterval
	t := time.NewTimer(0)
	defer t.Stop()
	for fired(ctx, t.C) {
		if err := ice.sendCheck(); err != nil {
			v.end(err)
			return
		}
		select {
		case <-v.rx.iceDone:
			interval = consentInterval
		default:
		}
		if silent := time.Since(time.Unix(0, v.rx.lastRx.Load())); silent > v.opts.Silence {
			v.end(fmt.Errorf("whep: nothing received for %s", silent.Round(time.Millisecond)))
			return
		}
		t.Reset(interval)
	}
}

// end records why the session ended (the first reason) and stops its goroutines; the
// socket stays open until Close.
func (v *Viewer) end(err error) {
	v.endOnce.Do(func() {
		v.err = err
		close(v.done)
		if v.cancel != nil {
			v.cancel()
		}
	})
}

// Done is closed when the session has ended: Close, the server closed DTLS, the socket
// failed, or nothing arrived for Options.Silence.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// Err says why the session ended (nil while it runs).
func (v *Viewer) Err() error {
	select {
	case <-v.done:
		return v.err
	default:
		return nil
	}
}

// Location is the session URL (for DELETE, the layer extension).
func (v *Viewer) Location() string { return v.location }

// DecryptFailures counts the packets whose SRTP (or, with receiver reports, SRTCP)
// decryption failed.
func (v *Viewer) DecryptFailures() uint64 {
	if v.rx == nil {
		return 0
	}
	return v.rx.decryptFailure.Load()
}

// ReportsSent counts the receiver reports sent (0 when Options.ReceiverReports is 0).
func (v *Viewer) ReportsSent() uint64 {
	if v.rx == nil || v.rx.rep == nil {
		return 0
	}
	return v.rx.rep.sent.Load()
}

// Close DELETEs the session, closes DTLS, stops the viewer's goroutines and polling,
// then closes the socket. The DELETE's error, if any, is returned; the rest is torn
// down anyway. OnPacket is not called once Close has returned.
func (v *Viewer) Close(ctx context.Context) error {
	err := deleteSession(ctx, v.opts.HTTPClient, v.location, v.opts.Token)
	if v.dtls != nil {
		_ = v.dtls.Close() // its close_notify also ends the server's session
	}
	v.end(errClosed)
	if v.group != nil {
		v.group.remove(v)
	}
	v.wg.Wait()
	if v.ownGroup != nil {
		v.ownGroup.Close()
	}
	if v.sock != nil {
		_ = v.sock.close()
		v.sock = nil
	}
	return err
}

func randomString(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}
