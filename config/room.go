package config

import "time"

// RoomSettings is the policy of one room, resolved from the config: what a room may differ
// in from the others: its LL-HLS ladder and mode, its DVR window, its latency mode and its publisher policy.
type RoomSettings struct {
	// Ladder is the room's LL-HLS ladder (hls_room_ladders, else --hls-ladder); nil means
	// the built-in default ladder.
	Ladder *Ladder
	// DVRWindow is how far behind the live edge the room's live playlist lets viewers
	// seek (dvr_room_windows, else --dvr-window); 0 when the DVR is off.
	DVRWindow time.Duration
	// HLSMode is when the room re-encodes its ladder: HLSAlways or HLSOnDemand
	// (hls_room_modes, else --hls-mode).
	HLSMode string
	// Latency is the room's latency mode, LatencyFastest or LatencySync (latency_rooms, else
	// --latency).
	Latency string
	// SyncDelay and SyncHLSDelay are a sync room's capture → screen targets for WebRTC and
	// LL-HLS viewers (sync_room_delays / sync_room_hls_delays, else --sync-delay /
	// --sync-hls-delay); zero in a fastest room.
	SyncDelay, SyncHLSDelay time.Duration
	// PublisherPolicy is what a second publisher of the live room gets: PolicyReject,
	// PolicyReplace or PolicyBackup (publisher_room_policies, else --publisher-policy).
	PublisherPolicy string
}

// RoomSettings returns the settings of room. Valid after Validate.
func (c *Config) RoomSettings(room string) RoomSettings {
	var s RoomSettings
	if l, ok := c.ladderFor(room); ok {
		s.Ladder = &l
	}
	s.DVRWindow = c.dvrWindow(room)
	s.HLSMode = c.hlsMode(room)
	s.Latency, s.SyncDelay, s.SyncHLSDelay = c.roomLatency(room)
	s.PublisherPolicy = c.publisherPolicy(room)
	return s
}
