package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLatencySettings: the defaults, the file's per-room maps, the flags, and what
// RoomSettings resolves per room.
func TestLatencySettings(t *testing.T) {
	def := Defaults()
	if s := def.RoomSettings("any"); s.Latency != LatencyFastest || s.SyncDelay != 0 || s.SyncHLSDelay != 0 {
		t.Errorf("default room: %+v, want fastest with no targets", s)
	}
	file := filepath.Join(t.TempDir(), "glint.yml")
	yml := "latency_rooms:\n  auction: sync\n  quiz: sync\nsync_room_delays:\n  quiz: 250ms\nsync_room_hls_delays:\n  quiz: 3s\n"
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--config", file, "--sync-delay=800ms", "--latency-room", "lobby=fastest"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for room, want := range map[string]RoomSettings{
		"auction": {Latency: LatencySync, SyncDelay: 800 * time.Millisecond, SyncHLSDelay: 1500 * time.Millisecond},
		"quiz":    {Latency: LatencySync, SyncDelay: 250 * time.Millisecond, SyncHLSDelay: 3 * time.Second},
		"lobby":   {Latency: LatencyFastest},
		"other":   {Latency: LatencyFastest},
	} {
		got := c.RoomSettings(room)
		if got.Latency != want.Latency || got.SyncDelay != want.SyncDelay || got.SyncHLSDelay != want.SyncHLSDelay {
			t.Errorf("%s: %s %v %v, want %s %v %v", room, got.Latency, got.SyncDelay, got.SyncHLSDelay,
				want.Latency, want.SyncDelay, want.SyncHLSDelay)
		}
	}
	c, err = Load([]string{"--latency=sync"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.RoomSettings("x"); s.Latency != LatencySync || s.SyncDelay != 400*time.Millisecond {
		t.Errorf("--latency=sync: %+v", s)
	}
}

func TestLatencySettingsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--latency=slow"}, `latency "slow": must be "fastest" or "sync"`},
		{[]string{"--sync-delay=50ms"}, "sync-delay 50ms: must be between 100ms and 4s"},
		{[]string{"--sync-delay=5s"}, "sync-delay 5s"},
		{[]string{"--sync-hls-delay=100ms"}, "sync-hls-delay 100ms"},
		{[]string{"--latency-room", "a b=sync"}, "invalid room name"},
		{[]string{"--latency-room", "auction=later"}, `latency-room auction "later"`},
		{[]string{"--sync-room-delay", "auction=soon"}, "want a duration"},
		{[]string{"--sync-room-delay", "auction=10s"}, "sync-room-delay auction 10s"},
		{[]string{"--sync-room-hls-delay", "auction=90s"}, "sync-room-hls-delay auction"},
	} {
		_, err := Load(c.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}
