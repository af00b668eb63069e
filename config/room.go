package config

// RoomSettings is the policy of one room, resolved from the config: what a room may differ
// in from the others. Today its LL-HLS ladder.
type RoomSettings struct {
	// Ladder is the room's LL-HLS ladder (hls_room_ladders, else --hls-ladder); nil means
	// the built-in default ladder.
	Ladder *Ladder
}

// RoomSettings returns the settings of room. Valid after Validate.
func (c *Config) RoomSettings(room string) RoomSettings {
	var s RoomSettings
	if l, ok := c.ladderFor(room); ok {
		s.Ladder = &l
	}
	return s
}
