package sfu

import (
	"context"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// LocalPacket is one RTP packet handed to an in-process subscriber.
type LocalPacket struct {
	Kind  string
	Codec webrtc.RTPCodecParameters
	Data  []byte // the RTP packet; valid only during the callback
	// Discontinuity marks the first packet from a new source (publisher reconnect or a
	// layer change): sequence numbers and timestamps restart.
	Discontinuity bool
	Arrival       time.Time
}

// LocalSubscriber reads a room's media inside the process (the HLS bridge, later the DVR
// and relays): each track's packets of the best layer, in sequence order, waiting up to
// lateWait for a missing one (the publisher's retransmission fills the ring) before moving on.
type LocalSubscriber struct {
	room   *Room
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   func()
}

const (
	localPoll = 5 * time.Millisecond
	lateWait  = 150 * time.Millisecond
)

// SubscribeLocal calls handle for every packet of the room's tracks until ctx ends or Close.
// The room must exist (it may be waiting for a publisher: packets start when one arrives);
// ErrNoPublisher when it does not (a subscriber never creates a room). handle runs on one
// goroutine per track.
func (s *SFU) SubscribeLocal(ctx context.Context, roomName string, handle func(LocalPacket)) (*LocalSubscriber, error) {
	room, err := s.existingRoom(roomName)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	_, unwatch := room.watch() // keeps the room while subscribed; events are not read
	ls := &LocalSubscriber{room: room, cancel: cancel, done: func() { unwatch(); s.dropIfIdle(room) }}
	for _, kind := range []string{"video", "audio"} {
		ls.wg.Add(1)
		go func() {
			defer ls.wg.Done()
			(&localReader{source: room.slotSource(kind), kind: kind, handle: handle}).run(ctx)
		}()
	}
	return ls, nil
}

// RequestKeyframe asks the room's video publisher for a keyframe (throttled per track like
// every keyframe request; RTMP/SRT sources cannot be asked and send theirs on their own GOP).
func (ls *LocalSubscriber) RequestKeyframe() {
	ls.room.mu.Lock()
	sl := ls.room.slots["video"]
	ls.room.mu.Unlock()
	if sl == nil {
		return
	}
	if src := sl.src.Load(); src != nil {
		src.RequestKeyframe()
	}
}

// Close stops the subscriber and waits for its goroutines.
func (ls *LocalSubscriber) Close() {
	ls.cancel()
	ls.wg.Wait()
	ls.done()
}

// slotSource is the uptrack the room's slot of kind follows now (nil: none).
func (r *Room) slotSource(kind string) func() *UpTrack {
	return func() *UpTrack {
		r.mu.Lock()
		sl := r.slots[kind]
		r.mu.Unlock()
		if sl == nil {
			return nil
		}
		return sl.src.Load()
	}
}

// localReader follows one kind of a room (or of one publisher: sfu/backup_remote.go).
type localReader struct {
	source func() *UpTrack // the track to read now
	kind   string
	handle func(LocalPacket)

	src       *UpTrack
	cursor    uint64
	missSince time.Time
	fresh     bool
	buf       [maxPacketSize]byte
}

func (r *localReader) run(ctx context.Context) {
	t := time.NewTicker(localPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.drain()
	}
}

func (r *localReader) drain() {
	if src := r.source(); src != r.src {
		r.src, r.cursor, r.fresh, r.missSince = src, 0, true, time.Time{}
	}
	if r.src == nil {
		return
	}
	head := r.src.ring.Head()
	if head == 0 {
		return
	}
	if r.cursor == 0 {
		r.cursor = head
		if key := r.src.ring.LastKeyframe(); key != 0 && key+r.src.ring.Size()/2 > head {
			r.cursor = key // start at the newest keyframe the ring still holds
		}
	}
	if head >= r.cursor+r.src.ring.Size()-16 {
		r.cursor, r.fresh = head, true // fell behind a whole ring: resync
	}
	now := time.Now()
	for r.cursor <= head {
		n, arrival := r.src.ring.CopyOut(r.cursor, r.buf[:])
		if n == 0 {
			if r.missSince.IsZero() {
				r.missSince = now
			}
			if now.Sub(r.missSince) < lateWait {
				return // wait for a retransmission
			}
			r.cursor++ // lost for good
			r.missSince = time.Time{}
			continue
		}
		r.missSince = time.Time{}
		r.handle(LocalPacket{Kind: r.kind, Codec: r.src.codec, Data: r.buf[:n], Discontinuity: r.fresh, Arrival: arrival})
		r.fresh = false
		r.cursor++
	}
}
