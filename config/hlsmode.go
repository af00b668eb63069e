package config

import (
	"flag"
	"fmt"
	"time"
)

// LL-HLS modes (hls_mode): when a room's re-encoded renditions run.
const (
	// HLSAlways re-encodes every room's ladder while the room is live: an HLS viewer never
	// waits, at the ladder's CPU cost for every live room.
	HLSAlways = "always"
	// HLSOnDemand re-encodes a room's ladder only while its HLS URLs are requested: the
	// source rendition (H.264 passthrough, cheap) and audio run all the time, the re-encoded
	// rungs start at the first request (which waits for them, about a second) and stop after
	// hls_idle without requests.
	HLSOnDemand = "on-demand"
)

// HLSModeSettings are the options of the LL-HLS modes.
type HLSModeSettings struct {
	HLSMode      string            `yaml:"hls_mode"`
	HLSRoomModes map[string]string `yaml:"hls_room_modes"`
	HLSIdle      time.Duration     `yaml:"hls_idle"`
	// HLSJoinKeyframe: a browser's first LL-HLS playlist asks a WebRTC publisher for a
	// keyframe (at most one a second per room) and waits for it, so the viewer starts at
	// the live edge (docs/llhls-latency.md).
	HLSJoinKeyframe bool `yaml:"hls_join_keyframe"`
}

func defaultHLSModes() HLSModeSettings {
	return HLSModeSettings{HLSMode: HLSAlways, HLSRoomModes: map[string]string{}, HLSIdle: time.Minute, HLSJoinKeyframe: true}
}

func (c *Config) bindHLSModes(fs *flag.FlagSet) {
	fs.StringVar(&c.HLSMode, "hls-mode", c.HLSMode, "when rooms re-encode their LL-HLS ladder: always, or on-demand (only while HLS viewers request it; the source rendition and audio always run)")
	fs.Var(&roomMapValue{m: &c.HLSRoomModes, want: "room=mode, e.g. lobby=on-demand"}, "hls-room-mode", "room=mode: that room's --hls-mode (repeatable)")
	fs.DurationVar(&c.HLSIdle, "hls-idle", c.HLSIdle, "an on-demand room stops re-encoding after this long without an HLS request")
	fs.BoolVar(&c.HLSJoinKeyframe, "hls-join-keyframe", c.HLSJoinKeyframe, "a browser's first LL-HLS playlist asks a WebRTC publisher for a keyframe (at most one a second per room) and is held for it, so the viewer starts at the live edge: about 0.2-0.3 s less latency, about 0.7 s longer start")
}

func (c *Config) validateHLSModes() error {
	if err := checkHLSMode("hls-mode", c.HLSMode); err != nil {
		return err
	}
	for room, mode := range c.HLSRoomModes {
		if !ValidRoomName(room) {
			return fmt.Errorf("hls-room-mode %q: invalid room name (1-64 of A-Z a-z 0-9 _ -)", room)
		}
		if err := checkHLSMode("hls-room-mode "+room, mode); err != nil {
			return err
		}
	}
	if c.HLSIdle < 5*time.Second {
		return fmt.Errorf("hls-idle %s: must be at least 5s (players request every part)", c.HLSIdle)
	}
	return nil
}

func checkHLSMode(what, mode string) error {
	if mode != HLSAlways && mode != HLSOnDemand {
		return fmt.Errorf("%s %q: want %s or %s", what, mode, HLSAlways, HLSOnDemand)
	}
	return nil
}

// hlsMode returns room's LL-HLS mode (hls_room_modes, else --hls-mode). Valid after Validate.
func (c *Config) hlsMode(room string) string {
	if m, ok := c.HLSRoomModes[room]; ok {
		return m
	}
	return c.HLSMode
}
