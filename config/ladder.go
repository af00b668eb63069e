package config

import (
	"fmt"
	"strconv"
	"strings"
)

// LadderRung is one re-encoded rung of an LL-HLS ladder: its picture height and bitrate in
// kbit/s (0: the default for that height).
type LadderRung struct {
	Height, Kbps int
}

// Ladder is a parsed ladder spec (--hls-ladder, hls_room_ladders): whether the source is
// passed through (H.264 publishers; others are re-encoded at their own size) and the
// re-encoded rungs. Rungs not below the source's height are left out at run time.
type Ladder struct {
	Source bool
	Rungs  []LadderRung
}

// ParseLadder parses a ladder spec: comma-separated entries, each "source" or
// HEIGHTp[:KBPS], e.g. "source,720p:2500,480p,360p:600".
func ParseLadder(spec string) (Ladder, error) {
	var l Ladder
	seen := map[int]bool{}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "source" {
			if l.Source {
				return Ladder{}, fmt.Errorf("%q: source given twice", spec)
			}
			l.Source = true
			continue
		}
		height, kbps, hasKbps := strings.Cut(entry, ":")
		h, err := strconv.Atoi(strings.TrimSuffix(height, "p"))
		if err != nil || !strings.HasSuffix(height, "p") || h < 144 || h > 2160 || h%2 != 0 {
			return Ladder{}, fmt.Errorf("%q: rung %q: want source or HEIGHTp[:KBPS] with an even height of 144-2160, e.g. 480p:1200", spec, entry)
		}
		r := LadderRung{Height: h}
		if hasKbps {
			if r.Kbps, err = strconv.Atoi(kbps); err != nil || r.Kbps < 100 || r.Kbps > 50000 {
				return Ladder{}, fmt.Errorf("%q: rung %q: bitrate must be 100-50000 kbit/s", spec, entry)
			}
		}
		if seen[h] {
			return Ladder{}, fmt.Errorf("%q: %dp given twice", spec, h)
		}
		seen[h] = true
		l.Rungs = append(l.Rungs, r)
	}
	return l, nil
}

// ladderFor returns the ladder of room: its own (hls_room_ladders), else --hls-ladder;
// ok is false when neither is set (the built-in default ladder). Valid after Validate.
func (c *Config) ladderFor(room string) (l Ladder, ok bool) {
	spec, ok := c.HLSRoomLadders[room]
	if !ok {
		spec, ok = c.HLSLadder, c.HLSLadder != ""
	}
	if !ok {
		return Ladder{}, false
	}
	l, err := ParseLadder(spec)
	return l, err == nil
}

// validateLadders checks --hls-ladder and every room's ladder.
func (c *Config) validateLadders() error {
	if c.HLSLadder != "" {
		if _, err := ParseLadder(c.HLSLadder); err != nil {
			return fmt.Errorf("hls-ladder %w", err)
		}
	}
	for room, spec := range c.HLSRoomLadders {
		if !ValidRoomName(room) {
			return fmt.Errorf("hls-room-ladder %q: invalid room name (1-64 of A-Z a-z 0-9 _ -)", room)
		}
		if _, err := ParseLadder(spec); err != nil {
			return fmt.Errorf("hls-room-ladder %s: %w", room, err)
		}
	}
	return nil
}

// ParseSize reads a picture size "WxH", 16x16 to 7680x4320 (the demo and loadtest flags).
func ParseSize(s string) (width, height int, err error) {
	ws, hs, found := strings.Cut(s, "x")
	width, errW := strconv.Atoi(ws)
	height, errH := strconv.Atoi(hs)
	if found && errW == nil && errH == nil && width >= 16 && height >= 16 && width <= 7680 && height <= 4320 {
		return width, height, nil
	}
	return 0, 0, fmt.Errorf("size %q: want WxH, e.g. 1280x720", s)
}
