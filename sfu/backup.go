package sfu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/config"
)

// Backup ingest (publisher_policy backup): a second publisher of a live room stands by. Its
// uptracks run and fill their rings, but no slot points at them, so nothing of it reaches
// the viewers. When the publisher on air stalls (no media for BackupOptions.Stall) or
// leaves, the room's slots are pointed at the standby's uptracks: the viewers' downtracks
// move to them at a keyframe (the standby's cached one when it is recent, else the next one,
// asked for), and the munger keeps the outgoing stream continuous, so no viewer renegotiates.
// The primary goes back on air after it has sent media for BackupOptions.Hold without a
// gap, or when an operator chooses it (SFU.SetSource).

// BackupOptions configure publisher_policy backup.
type BackupOptions struct {
	Enabled bool          // a second publisher of a live room stands by instead of getting ErrRoomBusy
	Stall   time.Duration // no media from the publisher on air for this long: switch (0: 500 ms)
	Hold    time.Duration // how long a returning primary must send before it is back on air (0: 10 s)
}

// Defaults of BackupOptions.
const (
	DefaultBackupStall = 500 * time.Millisecond
	DefaultBackupHold  = 10 * time.Second
	backupTick         = 50 * time.Millisecond // how often a room with a standby checks its sources
)

// The sources an operator can put on air (SFU.SetSource).
const (
	SourcePrimary = "primary"
	SourceBackup  = "backup"
)

// Errors of SetSource.
var (
	ErrNoBackup  = errors.New("room has no backup publisher")
	ErrBadSource = errors.New(`source must be "primary" or "backup"`)
)

// BackupInfo is the backup state of a room with a standby publisher.
type BackupInfo struct {
	OnAir   string `json:"on_air"`           // "primary" or "backup"
	Standby string `json:"standby"`          // the session id of the publisher off air
	Pinned  string `json:"pinned,omitempty"` // the source an operator chose, if any
	// PushedTo is the node that owns the room when the standby is kept here and pushed to it
	// (a publisher on a node that does not own the room; sfu/backup_remote.go).
	PushedTo string `json:"pushed_to,omitempty"`
}

// backupState is a room's standby publisher (guarded by Room.mu).
type backupState struct {
	standby     *Session           // the publisher off air
	onBackup    bool               // the backup is on air and the primary stands by
	pinned      string             // SourcePrimary or SourceBackup, chosen by an operator
	primaryBack time.Time          // since when the primary, off air, has sent without a stall
	stop        context.CancelFunc // ends the room's source watch
	remote      string             // the owner node the standby is pushed to (sfu/backup_remote.go); "" on the owner
}

func (o BackupOptions) withDefaults() BackupOptions {
	if o.Stall <= 0 {
		o.Stall = DefaultBackupStall
	}
	if o.Hold <= 0 {
		o.Hold = DefaultBackupHold
	}
	return o
}

// standBy makes sess the room's backup publisher (no directory claim: the primary's covers
// the room). Called with r.mu held and r.publisher set.
func (s *SFU) standBy(r *Room, sess *Session) error {
	if r.bk.standby != nil && r.bk.remote != "" {
		return fmt.Errorf("%w: room %q already has a publisher pushed to its owner %s", ErrRoomBusy, r.name, r.bk.remote)
	}
	if r.bk.standby != nil {
		return fmt.Errorf("%w: room %q already has a primary and a backup publisher", ErrRoomBusy, r.name)
	}
	r.bk.standby, r.bk.onBackup, r.bk.pinned, r.bk.primaryBack = sess, false, "", time.Time{}
	if r.bk.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		r.bk.stop = cancel
		go r.watchSources(ctx, s, s.opts.Backup.withDefaults())
	}
	sess.log.Info("backup publisher standing by", "on_air", r.publisher.ID)
	return nil
}

// backupInfo is the room's backup state, nil without a standby. Called with r.mu held.
func (r *Room) backupInfo() *BackupInfo {
	if r.bk.standby == nil {
		return nil
	}
	on := SourcePrimary
	if r.bk.onBackup {
		on = SourceBackup
	}
	return &BackupInfo{OnAir: on, Standby: r.bk.standby.ID, Pinned: r.bk.pinned, PushedTo: r.bk.remote}
}

// standbyTrack reports whether up belongs to the room's standby publisher; a track whose
// codec differs from the slot it would feed ends the standby (it could never go on air).
// Called with r.mu held.
func (r *Room) standbyTrack(pub *Session, up *UpTrack) bool {
	if pub == nil || r.bk.standby != pub {
		return false
	}
	if s := r.slots[up.kind]; s != nil && r.bk.remote == "" && !sameCodec(s.codec, up.codec) { // a pushed one: its owner checks
		pub.log.Error("backup publisher refused: its codec differs from the room's", "kind", up.kind,
			"codec", up.codec.MimeType, "room_codec", s.codec.MimeType)
		go pub.Close()
	}
	return true
}

// leaveBackup handles a publisher that leaves a room with a standby: the standby leaving
// is forgotten; the publisher on air leaving puts the standby on air as the room's only
// publisher. It reports whether pub was one of the two.
func (s *SFU) leaveBackup(r *Room, pub *Session) bool {
	r.mu.Lock()
	standby := r.bk.standby
	switch {
	case standby == nil:
		r.mu.Unlock()
		return false
	case standby == pub:
		if r.bk.onBackup { // the primary left while its backup is on air: the backup holds the room now
			s.promoteLocked(r, r.publisher)
		} else {
			r.endBackupLocked()
		}
		r.mu.Unlock()
		pub.log.Info("backup publisher left")
		r.broadcastPublisher()
		return true
	case r.publisher != pub || r.bk.remote != "": // a relay leaving a room whose standby is pushed elsewhere
		r.mu.Unlock()
		return false
	}
	s.promoteLocked(r, standby)
	r.mu.Unlock()
	r.moveSlots(pub, standby)
	standby.log.Info("publisher on air left: its standby is now the room's publisher", "left", pub.ID)
	r.broadcastSource("publisher left")
	return true
}

// promoteLocked makes the standby the room's only publisher, holding the room's claim.
func (s *SFU) promoteLocked(r *Room, next *Session) {
	r.publisher = next
	r.endBackupLocked()
	c, err := s.opts.Directory.Claim(context.Background(), s.publisherRequest(r, next, true))
	if err != nil {
		next.log.Error("room directory: the promoted backup could not claim the room", "err", err.Error())
		return
	}
	r.claim = c
}

func (r *Room) endBackupLocked() {
	r.bk.standby, r.bk.onBackup, r.bk.pinned, r.bk.remote = nil, false, "", ""
	if r.bk.stop != nil {
		r.bk.stop()
		r.bk.stop = nil
	}
}

// moveSlots points the room's slots at to's uptracks instead of from's: to's layers join
// first, so that no slot is ever without a source in between.
func (r *Room) moveSlots(from, to *Session) {
	for _, up := range to.upTracks() {
		r.mu.Lock()
		s, stale := r.slotFor(up.kind, up.codec)
		r.mu.Unlock()
		for _, v := range stale {
			go v.Close()
		}
		s.addLayer(up)
	}
	if from != nil {
		for _, up := range from.upTracks() {
			r.removeUpTrack(up)
		}
	}
}

func (r *Room) broadcastSource(reason string) {
	r.mu.Lock()
	on := SourcePrimary
	if r.bk.onBackup {
		on = SourceBackup
	}
	r.mu.Unlock()
	r.log.Info("room source switched", "on_air", on, "reason", reason)
	r.broadcast(Event{Type: "source", Data: map[string]any{"on_air": on, "reason": reason}})
	r.broadcastPublisher()
}

// watchSources checks the room's two publishers every backupTick until the standby leaves.
func (r *Room) watchSources(ctx context.Context, s *SFU, o BackupOptions) {
	t := time.NewTicker(backupTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.checkSources(s, now, o)
		}
	}
}

// checkSources switches to the standby when the publisher on air has stalled and the standby
// has not, and back to the primary once it has sent for o.Hold without a stall.
func (r *Room) checkSources(s *SFU, now time.Time, o BackupOptions) {
	r.mu.Lock()
	onAir, standby := r.publisher, r.bk.standby
	if standby == nil {
		r.mu.Unlock()
		return
	}
	if onAir == nil { // the publisher left while the standby was arriving
		s.promoteLocked(r, standby)
		r.mu.Unlock()
		r.moveSlots(nil, standby)
		r.broadcastSource("publisher left")
		return
	}
	standbyFlowing := now.Sub(lastMedia(standby)) < o.Stall
	if !r.bk.onBackup || !standbyFlowing {
		r.bk.primaryBack = time.Time{}
	} else if r.bk.primaryBack.IsZero() {
		r.bk.primaryBack = now
	}
	reason := ""
	switch {
	case now.Sub(lastMedia(onAir)) >= o.Stall && standbyFlowing:
		reason, r.bk.pinned = "stall", ""
	case r.bk.onBackup && r.bk.pinned != SourceBackup && !r.bk.primaryBack.IsZero() && now.Sub(r.bk.primaryBack) >= o.Hold:
		reason = "primary back"
	}
	if reason == "" {
		r.mu.Unlock()
		return
	}
	r.swapLocked()
	r.mu.Unlock()
	r.moveSlots(onAir, standby)
	r.broadcastSource(reason)
}

// swapLocked exchanges the publisher on air and the standby.
func (r *Room) swapLocked() {
	r.publisher, r.bk.standby = r.bk.standby, r.publisher
	r.bk.onBackup = !r.bk.onBackup
	r.bk.primaryBack = time.Time{}
}

// lastMedia is when sess last sent media: its newest video packet, or audio without video.
func lastMedia(sess *Session) time.Time {
	var video, any int64
	for _, up := range sess.upTracks() {
		ns := up.lastPacketNs.Load()
		any = max(any, ns)
		if up.kind == "video" {
			video = max(video, ns)
		}
	}
	if video == 0 {
		video = any
	}
	if video == 0 {
		return time.Time{}
	}
	return time.Unix(0, video)
}

// SetSource puts a room's primary or backup publisher on air (an operator's choice: the
// automatic switch back to the primary waits while the backup is chosen).
func (s *SFU) SetSource(roomName, source string) error {
	if source != SourcePrimary && source != SourceBackup {
		return ErrBadSource
	}
	r := s.lookupRoom(roomName)
	if r == nil {
		return ErrNoPublisher
	}
	r.mu.Lock()
	if r.publisher == nil {
		r.mu.Unlock()
		return ErrNoPublisher
	}
	if r.bk.standby == nil || r.bk.remote != "" { // a standby pushed to another node is on air only there
		r.mu.Unlock()
		if source == SourcePrimary {
			return nil
		}
		return ErrNoBackup
	}
	r.bk.pinned = source
	if r.bk.onBackup == (source == SourceBackup) {
		r.mu.Unlock()
		return nil
	}
	from, to := r.publisher, r.bk.standby
	r.swapLocked()
	r.mu.Unlock()
	r.moveSlots(from, to)
	r.broadcastSource("operator")
	return nil
}

// backupCodecs narrows a would-be backup's offered codecs of media m to the one that carries
// the room's codec, so that it can go on air without a viewer renegotiating; an offer
// without it is refused with a CodecError. Offers to rooms without a publisher are unchanged.
func (s *SFU) backupCodecs(roomName string, m offeredMedia, codecs []offeredCodec) ([]offeredCodec, error) {
	room := s.slotCodec(roomName, m.Kind)
	if room == nil {
		return codecs, nil
	}
	c, err := chooseViewerCodec(m, *room)
	if err != nil {
		return nil, fmt.Errorf("a backup publisher must send the room's codecs: %w", err)
	}
	return []offeredCodec{c}, nil
}

// checkBackupCodec refuses an in-process backup whose codec of kind differs from the room's.
func (s *SFU) checkBackupCodec(roomName, kind string, c *webrtc.RTPCodecParameters) error {
	room := s.slotCodec(roomName, kind)
	if c == nil || room == nil || sameCodec(*room, *c) {
		return nil
	}
	return &CodecError{Kind: kind, Offered: []string{c.MimeType + " (" + c.SDPFmtpLine + ")"},
		Allowed: room.MimeType + " (" + room.SDPFmtpLine + "), the room's codec: a backup publisher must match it"}
}

// slotCodec is the codec of the room's slot of kind while the room has a publisher and the
// backup policy is on (nil otherwise).
func (s *SFU) slotCodec(roomName, kind string) *webrtc.RTPCodecParameters {
	if s.roomPolicy(roomName) != config.PolicyBackup {
		return nil
	}
	r := s.lookupRoom(roomName)
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.publisher == nil || r.slots[kind] == nil {
		return nil
	}
	c := r.slots[kind].codec
	return &c
}

// roomPolicy is the room's publisher policy (config.PolicyReject, PolicyReplace or
// PolicyBackup): Options.Rooms' when it names one, else the node-wide ReplacePublisher and
// Backup.Enabled.
func (s *SFU) roomPolicy(room string) string {
	if s.opts.Rooms != nil {
		if p := s.opts.Rooms(room).PublisherPolicy; p != "" {
			return p
		}
	}
	switch {
	case s.opts.Backup.Enabled:
		return config.PolicyBackup
	case s.opts.ReplacePublisher:
		return config.PolicyReplace
	}
	return config.PolicyReject
}

// lookupRoom returns the room of that name if it exists (nil otherwise), creating nothing.
func (s *SFU) lookupRoom(name string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}
