package config

import (
	"flag"
	"fmt"
	"time"
)

// Latency modes of a room (--latency, latency_rooms).
const (
	// LatencyFastest renders every frame as soon as it is decoded: WebRTC viewers get the
	// playout-delay header extension with min = max = 0.
	LatencyFastest = "fastest"
	// LatencySync holds every viewer at capture + the room's target delay, so that all
	// viewers see the same frame at the same moment (betting, auctions, quizzes).
	LatencySync = "sync"
)

// Bounds of a sync room's target delays. A WebRTC target is what Chromium's
// RTCRtpReceiver.jitterBufferTarget can hold (at most 4 s); an LL-HLS one must leave room for
// at least a few parts.
const (
	minSyncDelay    = 100 * time.Millisecond
	maxSyncDelay    = 4 * time.Second
	minSyncHLSDelay = 500 * time.Millisecond
	maxSyncHLSDelay = time.Minute
)

// LatencySettings are the latency policy options: the default mode, the sync targets, and
// per-room overrides.
type LatencySettings struct {
	Latency      string            `yaml:"latency"`        // fastest | sync: the mode of rooms not in LatencyRooms
	SyncDelay    time.Duration     `yaml:"sync_delay"`     // capture → screen target of sync rooms' WebRTC viewers
	SyncHLSDelay time.Duration     `yaml:"sync_hls_delay"` // capture → screen target of sync rooms' LL-HLS viewers
	LatencyRooms map[string]string `yaml:"latency_rooms"`  // room → fastest | sync
	// SyncRoomDelays gives a room its own WebRTC target (room → duration, e.g. auction: 250ms).
	SyncRoomDelays map[string]string `yaml:"sync_room_delays"`
	// SyncRoomHLSDelays gives a room its own LL-HLS target (room → duration).
	SyncRoomHLSDelays map[string]string `yaml:"sync_room_hls_delays"`
}

// defaultLatency is the latency policy of a server with no configuration.
func defaultLatency() LatencySettings {
	return LatencySettings{Latency: LatencyFastest, SyncDelay: 400 * time.Millisecond, SyncHLSDelay: 1500 * time.Millisecond}
}

// bindLatency binds the latency policy's flags.
func (c *Config) bindLatency(fs *flag.FlagSet) {
	l := &c.LatencySettings
	fs.StringVar(&l.Latency, "latency", l.Latency, "latency mode of rooms not named by --latency-room: fastest (render each frame at once) or sync (every viewer at capture + the target delay)")
	fs.DurationVar(&l.SyncDelay, "sync-delay", l.SyncDelay, "capture → screen delay that sync rooms hold their WebRTC viewers at (100ms-4s)")
	fs.DurationVar(&l.SyncHLSDelay, "sync-hls-delay", l.SyncHLSDelay, "capture → screen delay that sync rooms hold their LL-HLS viewers at (500ms-1m)")
	fs.Var(&roomMapValue{m: &l.LatencyRooms, want: "room=mode, e.g. auction=sync"}, "latency-room", "room=mode: that room's latency mode (fastest or sync) instead of --latency (repeatable)")
	fs.Var(&roomMapValue{m: &l.SyncRoomDelays, want: "room=duration, e.g. auction=250ms"}, "sync-room-delay", "room=duration: that sync room's WebRTC target instead of --sync-delay (repeatable)")
	fs.Var(&roomMapValue{m: &l.SyncRoomHLSDelays, want: "room=duration, e.g. auction=2s"}, "sync-room-hls-delay", "room=duration: that sync room's LL-HLS target instead of --sync-hls-delay (repeatable)")
}

// validateLatency checks the latency policy.
func (c *Config) validateLatency() error {
	l := &c.LatencySettings
	if err := checkLatencyMode("latency", l.Latency); err != nil {
		return err
	}
	if err := checkDelay("sync-delay", l.SyncDelay, minSyncDelay, maxSyncDelay); err != nil {
		return err
	}
	if err := checkDelay("sync-hls-delay", l.SyncHLSDelay, minSyncHLSDelay, maxSyncHLSDelay); err != nil {
		return err
	}
	for room, mode := range l.LatencyRooms {
		if !ValidRoomName(room) {
			return fmt.Errorf("latency-room %q: invalid room name (1-64 of A-Z a-z 0-9 _ -)", room)
		}
		if err := checkLatencyMode("latency-room "+room, mode); err != nil {
			return err
		}
	}
	if err := checkRoomDelays("sync-room-delay", l.SyncRoomDelays, minSyncDelay, maxSyncDelay); err != nil {
		return err
	}
	return checkRoomDelays("sync-room-hls-delay", l.SyncRoomHLSDelays, minSyncHLSDelay, maxSyncHLSDelay)
}

func checkLatencyMode(name, mode string) error {
	if mode != LatencyFastest && mode != LatencySync {
		return fmt.Errorf("%s %q: must be %q or %q", name, mode, LatencyFastest, LatencySync)
	}
	return nil
}

func checkDelay(name string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("%s %s: must be between %s and %s", name, d, lo, hi)
	}
	return nil
}

func checkRoomDelays(name string, delays map[string]string, lo, hi time.Duration) error {
	for room, v := range delays {
		if !ValidRoomName(room) {
			return fmt.Errorf("%s %q: invalid room name (1-64 of A-Z a-z 0-9 _ -)", name, room)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s %s=%q: want a duration, e.g. 400ms", name, room, v)
		}
		if err := checkDelay(name+" "+room, d, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// roomLatency returns room's latency mode and its WebRTC and LL-HLS targets (the targets
// are zero in a fastest room). Valid after Validate.
func (c *Config) roomLatency(room string) (mode string, delay, hlsDelay time.Duration) {
	l := &c.LatencySettings
	mode = l.Latency
	if m, ok := l.LatencyRooms[room]; ok {
		mode = m
	}
	if mode != LatencySync {
		return mode, 0, 0
	}
	return mode, roomDelay(l.SyncRoomDelays, room, l.SyncDelay), roomDelay(l.SyncRoomHLSDelays, room, l.SyncHLSDelay)
}

func roomDelay(delays map[string]string, room string, fallback time.Duration) time.Duration {
	if v, ok := delays[room]; ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return fallback
}
