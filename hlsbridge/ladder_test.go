package hlsbridge

import (
	"io"
	"slices"
	"strconv"
	"testing"

	"github.com/glint-video/glint/config"
)

// TestRoomLadder: the configured ladders reach the bridge through the room policy: a room's
// own, else --hls-ladder, else the built-in default.
func TestRoomLadder(t *testing.T) {
	cfg, err := config.Load([]string{"--hls-ladder", "source,360p:600", "--hls-room-ladder", "studio=480p:1000,240p"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defaults := config.Defaults()
	names := func(room string, policy RoomPolicy) []string {
		var out []string
		for _, r := range (&Options{Rooms: policy}).ladder(room, 1280, 720) {
			out = append(out, r.Name+"@"+strconv.Itoa(r.BitrateKbps))
		}
		return out
	}
	for _, tc := range []struct {
		room   string
		policy RoomPolicy
		want   []string
	}{
		{"studio", cfg.RoomSettings, []string{"480p@1000", "240p@400"}},
		{"other", cfg.RoomSettings, []string{"source@2500", "360p@600"}},
		{"any", defaults.RoomSettings, []string{"source@2500", "480p@1200", "360p@700"}},
	} {
		if got := names(tc.room, tc.policy); !slices.Equal(got, tc.want) {
			t.Errorf("room %s: rungs %v, want %v", tc.room, got, tc.want)
		}
	}
}
