package main

import (
	"io"
	"slices"
	"strconv"
	"testing"

	"github.com/glint-video/glint/config"
)

// TestRoomLadder: the configured ladders reach the HLS bridge: a room's own, else
// --hls-ladder, else the built-in default.
func TestRoomLadder(t *testing.T) {
	cfg, err := config.Load([]string{"--hls-ladder", "source,360p:600", "--hls-room-ladder", "studio=480p:1000,240p"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	names := func(room string, c config.Config) []string {
		var out []string
		for _, r := range roomLadder(c)(room, 1280, 720, "H264") {
			out = append(out, r.Name+"@"+strconv.Itoa(r.BitrateKbps))
		}
		return out
	}
	for _, tc := range []struct {
		room string
		cfg  config.Config
		want []string
	}{
		{"studio", cfg, []string{"480p@1000", "240p@400"}},
		{"other", cfg, []string{"source@2500", "360p@600"}},
		{"any", config.Defaults(), []string{"source@2500", "480p@1200", "360p@700"}},
	} {
		if got := names(tc.room, tc.cfg); !slices.Equal(got, tc.want) {
			t.Errorf("room %s: rungs %v, want %v", tc.room, got, tc.want)
		}
	}
}
