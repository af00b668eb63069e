package sfu

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
)

// Publishers of rooms owned by another node (cluster publishing, docs/cluster.md). A
// publisher that lands on a node that does not own its room is not refused when
//   - the room's policy is backup (WHIP, RTMP or SRT): it is the room's standby here, and
//   - it comes from RTMP/SRT ingest (any policy): that connection cannot be redirected.
//
// Such a publisher is kept here as the room's standby with BackupInfo.PushedTo set: its
// uptracks fill their rings but feed no slot (this node's viewers keep watching the room
// through their relay), and Options.RemotePublisher (package relay's Pusher) pushes its
// media to the owner over WHIP, where the owner's policy applies (reject: the push gets 409
// and the publisher here ends; replace; backup: the owner holds it as its standby). When the
// owner's claim lapses (the owner died) the pusher calls TakeRoom: this node claims the
// room and the standby goes on air as the room's origin publisher.

// RemotePublisher is a publisher kept on this node while another node owns its room.
type RemotePublisher struct {
	s    *SFU
	room *Room
	sess *Session
	// Owner is the node that owned the room when the publisher arrived.
	Owner string
	// Backup reports the room's policy: backup (the owner should hold it as its standby).
	Backup bool
}

// ErrNotRemote is TakeRoom on a publisher that is no longer kept for another node.
var ErrNotRemote = errors.New("publisher is no longer kept for another node")

// keepsRemote reports whether a publisher of a room another node owns is kept here: the
// node pushes such publishers (Options.RemotePublisher) and the policy is backup or the
// publisher is RTMP/SRT ingest.
func (s *SFU) keepsRemote(policy string, sess *Session) bool {
	return s.opts.RemotePublisher != nil && (policy == config.PolicyBackup || sess.local)
}

// KeepsRemoteBackup reports whether a WHIP publish of room, owned by another node, stays on
// this node as the room's standby (the room's policy is backup and this node pushes such
// publishers) rather than being redirected to the owner.
func (s *SFU) KeepsRemoteBackup(room string) bool {
	return s.opts.RemotePublisher != nil && s.roomPolicy(room) == config.PolicyBackup
}

// standByRemote keeps sess as the room's standby pushed to owner. Called with r.mu held.
func (s *SFU) standByRemote(r *Room, sess *Session, owner cluster.Claim) error {
	if r.bk.standby != nil {
		return fmt.Errorf("%w: room %q already has a standby publisher on this node (owner: node %s)", ErrRoomBusy, r.name, owner.Node)
	}
	r.bk.standby, r.bk.remote, r.bk.onBackup, r.bk.pinned = sess, owner.Node, false, ""
	rp := &RemotePublisher{s: s, room: r, sess: sess, Owner: owner.Node, Backup: s.roomPolicy(r.name) == config.PolicyBackup}
	sess.log.Info("room owned by another node: publisher kept here and pushed to the owner", "owner", owner.Node, "backup", rp.Backup)
	go s.opts.RemotePublisher(rp)
	return nil
}

// Room is the publisher's room.
func (p *RemotePublisher) Room() string { return p.room.name }

// ID is the publisher's session id.
func (p *RemotePublisher) ID() string { return p.sess.ID }

// Context ends with the publisher's session.
func (p *RemotePublisher) Context() context.Context { return p.sess.ctx }

// End closes the publisher (for an RTMP/SRT publisher: its connection) saying why.
func (p *RemotePublisher) End(reason error) {
	p.sess.log.Warn("publisher pushed to another node ends", "err", reason.Error())
	p.sess.Close()
}

// Codecs are the publisher's tracks by kind ("video", "audio"), as far as they arrived.
func (p *RemotePublisher) Codecs() map[string]webrtc.RTPCodecParameters {
	out := map[string]webrtc.RTPCodecParameters{}
	for _, up := range p.sess.upTracks() {
		out[up.kind] = up.codec
	}
	return out
}

// RequestKeyframe asks the publisher for a keyframe on its video tracks (throttled like
// every keyframe request).
func (p *RemotePublisher) RequestKeyframe() {
	for _, up := range p.sess.upTracks() {
		if up.kind == "video" {
			up.RequestKeyframe()
		}
	}
}

// Subscribe calls handle for every packet of the publisher's tracks (of video, its best
// layer) until ctx ends or the returned stop is called (which waits for the readers).
// handle runs on one goroutine per kind.
func (p *RemotePublisher) Subscribe(ctx context.Context, handle func(LocalPacket)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, kind := range []string{"video", "audio"} {
		wg.Go(func() {
			(&localReader{source: p.bestTrack(kind), kind: kind, handle: handle}).run(ctx)
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// bestTrack is the publisher's highest layer of kind (nil: none yet).
func (p *RemotePublisher) bestTrack(kind string) func() *UpTrack {
	return func() *UpTrack {
		var ups []*UpTrack
		for _, up := range p.sess.upTracks() {
			if up.kind == kind {
				ups = append(ups, up)
			}
		}
		if len(ups) == 0 {
			return nil
		}
		sort.SliceStable(ups, func(i, j int) bool { return layerRank(ups[i].rid) < layerRank(ups[j].rid) })
		return ups[len(ups)-1]
	}
}

// TakeRoom claims the room in the directory for the publisher (its owner is gone) and puts
// it on air as the room's publisher: a relay publisher of the room here gives way to it and
// the room's viewers here move to it without renegotiating. A *cluster.ClaimedError when
// another node claimed the room first.
func (p *RemotePublisher) TakeRoom(ctx context.Context) error {
	s, r := p.s, p.room
	r.mu.Lock()
	if r.bk.standby != p.sess || r.bk.remote == "" {
		r.mu.Unlock()
		return ErrNotRemote
	}
	c, err := s.opts.Directory.Claim(ctx, s.publisherRequest(r, p.sess, false))
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("take room %q: %w", r.name, err)
	}
	prev := r.publisher
	r.publisher, r.claim, r.live = p.sess, c, false
	r.endBackupLocked()
	r.mu.Unlock()
	r.moveSlots(prev, p.sess)
	if prev != nil {
		go prev.Close() // a relay of the room from its former owner
	}
	r.setLive(p.sess, true)
	p.sess.log.Info("room's owner gone: this node took the room; its standby is on air", "former_owner", p.Owner, "token", c.Token)
	r.broadcastSource("owner gone")
	return nil
}
