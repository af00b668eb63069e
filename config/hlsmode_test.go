package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHLSModes: the default mode, the file's per-room modes, flags, and the errors.
func TestHLSModes(t *testing.T) {
	def := Defaults()
	if def.HLSMode != HLSAlways || def.HLSIdle != time.Minute || def.RoomSettings("x").HLSMode != HLSAlways {
		t.Errorf("defaults: mode %q idle %v", def.HLSMode, def.HLSIdle)
	}
	file := filepath.Join(t.TempDir(), "glint.yml")
	if err := os.WriteFile(file, []byte("hls_room_modes:\n  lobby: on-demand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--config", file, "--hls-idle=30s", "--hls-room-mode", "quiet=on-demand"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for room, want := range map[string]string{"lobby": HLSOnDemand, "quiet": HLSOnDemand, "stage": HLSAlways} {
		if got := c.RoomSettings(room).HLSMode; got != want {
			t.Errorf("room %s: mode %q, want %q", room, got, want)
		}
	}
	if c.HLSIdle != 30*time.Second {
		t.Errorf("idle %v", c.HLSIdle)
	}
	if !def.HLSJoinKeyframe || !c.HLSJoinKeyframe {
		t.Errorf("hls_join_keyframe off by default")
	}
	if off, err := Load([]string{"--hls-join-keyframe=false"}, func(string) string { return "" }, io.Discard); err != nil || off.HLSJoinKeyframe {
		t.Errorf("--hls-join-keyframe=false: %v, on %v", err, off.HLSJoinKeyframe)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hls-mode=lazy"}, `hls-mode "lazy": want always or on-demand`},
		{[]string{"--hls-room-mode", "a=sometimes"}, `hls-room-mode a "sometimes"`},
		{[]string{"--hls-idle=1s"}, "hls-idle 1s: must be at least 5s"},
	} {
		_, err := Load(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
