package config

import "time"

// RoomSettings is the policy of one room, resolved from the config: what a room may differ
// in from the others: its LL-HLS ladder and mode, and its DVR window.
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
}

// RoomSettings returns the settings of room. Valid after Validate.
func (c *Config) RoomSettings(room string) RoomSettings {
	var s RoomSettings
	if l, ok := c.ladderFor(room); ok {
		s.Ladder = &l
	}
	s.DVRWindow = c.dvrWindow(room)
	s.HLSMode = c.hlsMode(room)
	return s
}
