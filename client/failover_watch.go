package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// How a FailoverViewer opens sessions, reads them, and decides that one is lost: the watch
// page's rules (web/static/failover.js, watch.js; docs/viewer-failover.md).

// discover adds the nodes node's GET /api/nodes lists; a node that does not answer it (no
// cluster, auth) leaves the list as it is.
func (v *FailoverViewer) discover(node string) {
	urls, err := v.probe.nodes(v.ctx, node)
	if err != nil {
		v.log.Info("whep failover: no node list", "node", node, "err", err.Error())
		return
	}
	if n := v.nodes.add(urls...); n > 0 {
		v.log.Info("whep failover: nodes discovered", "node", node, "added", n, "nodes", v.nodes.known())
	}
}

// open starts a WHEP session on node.
func (v *FailoverViewer) open(node string) (*sessionState, *Session, error) {
	v.mu.Lock()
	st := &sessionState{info: FailoverSession{Index: v.current.Index + 1, Node: node}, started: time.Now()}
	v.current = st.info
	if v.pending != nil {
		v.pending.Attempts++
	}
	v.mu.Unlock()
	st.lastMedia.Store(st.started.UnixNano())
	opts := v.opts.Options
	opts.OnTrack = v.readTrack(st)
	ctx, cancel := context.WithTimeout(v.ctx, v.opts.OfferTimeout)
	defer cancel()
	sess, err := Play(ctx, node+"/"+v.path, opts, v.opts.Kinds...)
	return st, sess, err
}

// readTrack reads a session's track, noting when media arrives, and hands the packets on.
func (v *FailoverViewer) readTrack(st *sessionState) func(*webrtc.TrackRemote, *webrtc.RTPReceiver) {
	return func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := track.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			now := time.Now()
			st.lastMedia.Store(now.UnixNano())
			if !st.gotMedia.Swap(true) {
				v.firstMedia(st, now)
			}
			if v.opts.OnRTP != nil {
				v.opts.OnRTP(st.info, track, &pkt)
			}
		}
	}
}

// firstMedia completes a pending recovery at a session's first RTP.
func (v *FailoverViewer) firstMedia(st *sessionState, at time.Time) {
	v.playingOnce.Do(func() { close(v.playing) })
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.pending == nil || v.current.Index != st.info.Index {
		return
	}
	r := *v.pending
	v.pending = nil
	r.To, r.FirstMediaAt = st.info.Node, at
	v.recoveries = append(v.recoveries, r)
	v.log.Info("whep failover: playing again", "from", r.From, "node", r.To, "session", st.info.Index,
		"gap_ms", r.Gap().Milliseconds(), "attempts", r.Attempts, "reason", r.Reason)
}

// refused decides what follows a failed offer, as the page does: a room not live (404)
// waits on the same node; a node that is unavailable (503: draining, shutting down, its
// cluster directory unreachable) or unreachable is left for the next; a refusal for good
// (bad offer, token, codec) stops the viewer; anything else is tried again on the same node.
func (v *FailoverViewer) refused(node string, err error) (delay time.Duration, fatal bool) {
	var he *HTTPError
	isHTTP := errors.As(err, &he)
	switch {
	case isHTTP && (he.Status == http.StatusBadRequest || he.Status == http.StatusUnauthorized ||
		he.Status == http.StatusForbidden || he.Status == http.StatusNotAcceptable):
		return 0, true
	case !isHTTP || he.Status == http.StatusServiceUnavailable:
		from, to, delay := v.nodes.move()
		v.log.Warn("whep failover: node unavailable, moving", "from", from, "to", to, "after_ms", delay.Milliseconds(), "err", err.Error())
		return delay, false
	default:
		delay := v.nodes.delay()
		v.log.Info("whep failover: offer refused, trying again", "node", node, "after_ms", delay.Milliseconds(), "err", err.Error())
		return delay, false
	}
}

// watch follows a session until it is lost, or the viewer stops (reason ""): move says
// whether its node is to be left.
func (v *FailoverViewer) watch(st *sessionState, sess *Session) (reason string, move bool) {
	tick := time.NewTicker(max(v.opts.Silence/4, 20*time.Millisecond))
	defer tick.Stop()
	var connected bool
	var disconnectedAt, probedAt time.Time
	for {
		select {
		case <-v.ctx.Done():
			return "", false
		case <-sess.Done():
			return "connection " + sess.finalState.String(), true
		case <-tick.C:
		}
		now := time.Now()
		switch sess.PeerConnection().ConnectionState() {
		case webrtc.PeerConnectionStateConnected:
			if !connected {
				connected = true
				v.nodes.connected()
			}
			disconnectedAt = time.Time{}
		case webrtc.PeerConnectionStateDisconnected:
			if disconnectedAt.IsZero() {
				disconnectedAt = now
				if !v.probe.alive(v.ctx, st.info.Node) {
					return "connection disconnected and node unreachable", true
				}
			} else if now.Sub(disconnectedAt) >= v.opts.Disconnected {
				return fmt.Sprintf("connection disconnected for %v", v.opts.Disconnected), true
			}
		default:
		}
		if !connected && now.Sub(st.started) >= connectTimeout {
			return fmt.Sprintf("not connected after %v", connectTimeout), false
		}
		silent := now.Sub(st.last())
		if silent >= v.opts.Silence && now.Sub(probedAt) >= v.opts.Silence {
			probedAt = now
			if !v.probe.alive(v.ctx, st.info.Node) {
				return fmt.Sprintf("no media for %v and node unreachable", silent.Round(time.Millisecond)), true
			}
			if silent >= v.opts.Stale {
				return fmt.Sprintf("no media for %v", silent.Round(time.Millisecond)), false
			}
		}
	}
}

// lost records a lost session and returns the wait before the next attempt, on the next
// node when move is set.
func (v *FailoverViewer) lost(st *sessionState, reason string, move bool) time.Duration {
	v.mu.Lock()
	if v.pending == nil {
		v.pending = &Recovery{From: st.info.Node, Reason: reason, LastMedia: st.last(), DetectedAt: time.Now()}
	}
	v.mu.Unlock()
	if !move {
		delay := v.nodes.delay()
		v.log.Warn("whep failover: session lost, reconnecting", "node", st.info.Node, "session", st.info.Index,
			"reason", reason, "after_ms", delay.Milliseconds())
		return delay
	}
	from, to, delay := v.nodes.move()
	v.log.Warn("whep failover: session lost, moving", "from", from, "to", to, "session", st.info.Index,
		"reason", reason, "after_ms", delay.Milliseconds())
	return delay
}

// closeInBackground ends a lost session (its DELETE may wait on a dead node) without
// holding up the next attempt; Close waits for it.
func (v *FailoverViewer) closeInBackground(sess *Session) {
	v.closers.Add(1)
	go func() {
		defer v.closers.Done()
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_ = sess.Close(ctx)
	}()
}

// sleep waits d, or until the viewer stops (false).
func (v *FailoverViewer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-v.ctx.Done():
		return false
	}
}
