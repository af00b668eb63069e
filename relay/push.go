package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/sfu"
)

// Pushes (cluster publishing, docs/cluster.md): a publisher kept on a node that does not
// own its room (sfu.RemotePublisher: RTMP/SRT ingest, or a backup room's second publisher)
// is pushed to the room's owner as a WHIP publish authenticated with the cluster secret;
// the owner applies its publisher policy. The pusher follows the room in the directory:
// when the owner changes it pushes to the new one, and when nobody owns the room (the
// owner's lease lapsed) it takes the room (sfu.RemotePublisher.TakeRoom), so the publisher
// kept here becomes the room's origin and the other nodes' relays re-attach to this node.

// PushOptions configure a Pusher.
type PushOptions struct {
	Locator   OriginLocator     // the room's owner and its URL
	Directory cluster.Directory // watched for the room's owner changing
	NodeID    string            // this node's id
	Secret    string            // the cluster secret, the push's bearer token on the owner
	// TrackWait bounds the wait for a WHIP publisher's tracks before the first push
	// (0: DefaultTrackWait).
	TrackWait  time.Duration
	HTTPClient *http.Client // nil: a client per push session
	// LoopbackOnly and SettingEngine are those of client.Options (tests; ICE policy).
	LoopbackOnly  bool
	SettingEngine func(*webrtc.SettingEngine)
	Logger        *slog.Logger
}

// DefaultTrackWait is how long a push waits for the publisher's first track.
const DefaultTrackWait = 10 * time.Second

// Pusher pushes the publishers this node keeps for rooms owned elsewhere.
type Pusher struct {
	opts PushOptions
	log  *slog.Logger
	wg   sync.WaitGroup
}

// NewPusher returns a Pusher; Push is its sfu.Options.RemotePublisher.
func NewPusher(opts PushOptions) (*Pusher, error) {
	if opts.Locator == nil || opts.Directory == nil {
		return nil, errors.New("relay push: Locator and Directory are required")
	}
	if opts.Secret == "" {
		return nil, errors.New("relay push: the cluster secret is required (the owner authenticates pushes by it)")
	}
	if opts.TrackWait <= 0 {
		opts.TrackWait = DefaultTrackWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Pusher{opts: opts, log: opts.Logger.With("component", "relay-push")}, nil
}

// Push keeps rp pushed to its room's owner until rp ends or takes the room; a push the
// owner refuses (4xx: its policy rejects a second publisher) ends rp with that reason.
func (p *Pusher) Push(rp *sfu.RemotePublisher) {
	p.wg.Add(1)
	defer p.wg.Done()
	ctx := rp.Context()
	log := p.log.With("room", rp.Room(), "session", rp.ID())
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changed := p.watchOwner(watchCtx, rp.Room(), log)
	backoff := backoffMin
	for ctx.Err() == nil {
		done, err := p.pushRound(ctx, rp, changed, log)
		if done {
			return
		}
		if err == nil {
			backoff = backoffMin
			continue
		}
		log.Warn("push to the room's owner failed; trying again", "err", err.Error(), "after_ms", backoff.Milliseconds())
		select {
		case <-ctx.Done():
		case <-changed:
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

// Wait returns when every Push has returned (their publishers end with the SFU).
func (p *Pusher) Wait() { p.wg.Wait() }

// pushRound locates the room's owner and pushes to it until the push ends or the owner
// changes (nil error), or takes the room when nobody owns it. done: rp ended or took the room.
func (p *Pusher) pushRound(ctx context.Context, rp *sfu.RemotePublisher, changed <-chan struct{}, log *slog.Logger) (done bool, err error) {
	node, base, ok, err := p.opts.Locator.Origin(ctx, rp.Room())
	if err != nil {
		return false, fmt.Errorf("locate the owner: %w", err)
	}
	if !ok || node == p.opts.NodeID {
		err := rp.TakeRoom(ctx)
		if err == nil || errors.Is(err, sfu.ErrNotRemote) {
			return true, nil
		}
		return false, err // another node claimed it first: push there next round
	}
	err = p.pushTo(ctx, rp, node, strings.TrimRight(base, "/"), changed, log)
	var refused *client.HTTPError
	if errors.As(err, &refused) && refused.Status >= 400 && refused.Status < 500 {
		rp.End(fmt.Errorf("the room's owner %s refused the push: %w", node, err))
		return true, nil
	}
	return false, err
}

// pushTo runs one WHIP session to the owner node until it ends, ctx ends, or the directory
// names another owner.
func (p *Pusher) pushTo(ctx context.Context, rp *sfu.RemotePublisher, node, base string, changed <-chan struct{}, log *slog.Logger) error {
	codecs, err := p.waitTracks(ctx, rp)
	if err != nil {
		return err
	}
	tracks := map[string]*webrtc.TrackLocalStaticRTP{}
	locals := make([]webrtc.TrackLocal, 0, len(codecs))
	var params []webrtc.RTPCodecParameters
	for _, kind := range []string{"video", "audio"} {
		c, ok := codecs[kind]
		if !ok {
			continue
		}
		t, err := webrtc.NewTrackLocalStaticRTP(c.RTPCodecCapability, kind, "glint-push")
		if err != nil {
			return fmt.Errorf("push %s track: %w", kind, err)
		}
		tracks[kind] = t
		locals = append(locals, t)
		params = append(params, c)
	}
	opts := client.Options{Token: p.opts.Secret, Codecs: params, HTTPClient: p.opts.HTTPClient,
		LoopbackOnly: p.opts.LoopbackOnly, SettingEngine: p.opts.SettingEngine,
		OnRTCP: keyframeRequests(rp)}
	sess, err := client.Publish(ctx, base+"/whip/"+url.PathEscape(rp.Room()), locals, opts)
	if err != nil {
		return fmt.Errorf("push to node %s: %w", node, err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = sess.Close(closeCtx)
	}()
	stop := rp.Subscribe(ctx, forwardPacket(tracks))
	defer stop()
	rp.RequestKeyframe() // the owner's viewers of this source start at a keyframe
	log.Info("publisher pushed to the room's owner", "owner", node, "kinds", len(locals), "backup", rp.Backup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			return fmt.Errorf("push to node %s: session ended", node)
		case <-changed:
			now, _, ok, err := p.opts.Locator.Origin(ctx, rp.Room())
			if err == nil && ok && now == node {
				continue // still the owner
			}
			log.Info("room's owner changed: push ends", "was", node, "now", now)
			return nil
		}
	}
}

// waitTracks waits for the publisher's tracks: all kinds once one has arrived and then
// either the other or a short grace (a WHIP publisher's tracks arrive one by one).
func (p *Pusher) waitTracks(ctx context.Context, rp *sfu.RemotePublisher) (map[string]webrtc.RTPCodecParameters, error) {
	const poll, grace = 50 * time.Millisecond, 500 * time.Millisecond
	deadline := time.Now().Add(p.opts.TrackWait)
	var first time.Time
	for {
		codecs := rp.Codecs()
		if len(codecs) > 0 && first.IsZero() {
			first = time.Now()
		}
		if len(codecs) == 2 || len(codecs) > 0 && time.Since(first) >= grace {
			return codecs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no track from the publisher within %v", p.opts.TrackWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// watchOwner signals (coalesced) every change of the room's publisher claim; without a
// directory watch the push still retries on its own backoff.
func (p *Pusher) watchOwner(ctx context.Context, room string, log *slog.Logger) <-chan struct{} {
	changed := make(chan struct{}, 1)
	events, err := p.opts.Directory.Watch(ctx, room)
	if err != nil {
		log.Warn("push: cannot watch the room's owner; relying on retries", "err", err.Error())
		return changed
	}
	go func() {
		for e := range events {
			if e.Claim.Kind != cluster.Publisher {
				continue
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	return changed
}

// keyframeRequests passes the owner's keyframe requests (PLI, FIR) on to the publisher.
func keyframeRequests(rp *sfu.RemotePublisher) func(webrtc.TrackLocal, []rtcp.Packet) {
	return func(_ webrtc.TrackLocal, pkts []rtcp.Packet) {
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				rp.RequestKeyframe()
				return
			}
		}
	}
}

// forwardPacket writes each packet of the publisher to the push track of its kind, without
// its header extensions (their ids are those the publisher negotiated here, not the push's).
// It is called on one goroutine per kind.
func forwardPacket(tracks map[string]*webrtc.TrackLocalStaticRTP) func(sfu.LocalPacket) {
	packets := map[string]*rtp.Packet{}
	for kind := range tracks {
		packets[kind] = &rtp.Packet{}
	}
	return func(lp sfu.LocalPacket) {
		t, pkt := tracks[lp.Kind], packets[lp.Kind]
		if t == nil || pkt.Unmarshal(lp.Data) != nil {
			return
		}
		pkt.Header.Extension, pkt.Header.Extensions, pkt.Header.ExtensionProfile = false, nil, 0
		_ = t.WriteRTP(pkt)
	}
}
