package config

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseLadder(t *testing.T) {
	cases := []struct {
		spec    string
		want    Ladder
		wantErr string
	}{
		{spec: "source,720p:2500,480p,360p:600", want: Ladder{Source: true, Rungs: []LadderRung{{720, 2500}, {480, 0}, {360, 600}}}},
		{spec: "480p", want: Ladder{Rungs: []LadderRung{{480, 0}}}},
		{spec: "source", want: Ladder{Source: true}},
		{spec: " source , 240p:300 ", want: Ladder{Source: true, Rungs: []LadderRung{{240, 300}}}},
		{spec: "", wantErr: `rung ""`},
		{spec: "720", wantErr: "HEIGHTp"},
		{spec: "721p", wantErr: "even height"},
		{spec: "100p", wantErr: "144-2160"},
		{spec: "480p:fast", wantErr: "bitrate"},
		{spec: "480p:50", wantErr: "bitrate"},
		{spec: "480p,480p:900", wantErr: "480p given twice"},
		{spec: "source,source", wantErr: "source given twice"},
	}
	for _, tc := range cases {
		got, err := ParseLadder(tc.spec)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseLadder(%q) = %v, %v; want an error with %q", tc.spec, got, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || !reflect.DeepEqual(got, tc.want)):
			t.Errorf("ParseLadder(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

func TestLadderOptions(t *testing.T) {
	cfg, err := Load([]string{"--hls-ladder", "source,480p", "--hls-room-ladder", "studio=360p:500,240p",
		"--hls-room-ladder", "talk=source"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for room, want := range map[string]Ladder{
		"studio": {Rungs: []LadderRung{{360, 500}, {240, 0}}},
		"talk":   {Source: true},
		"other":  {Source: true, Rungs: []LadderRung{{480, 0}}},
	} {
		if got := cfg.RoomSettings(room).Ladder; got == nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("RoomSettings(%s).Ladder = %+v; want %+v", room, got, want)
		}
	}
	if d := Defaults(); d.RoomSettings("any").Ladder != nil {
		t.Error("the defaults name a ladder; want none (the built-in one)")
	}
	for _, args := range [][]string{
		{"--hls-ladder", "480"},
		{"--hls-room-ladder", "studio"},
		{"--hls-room-ladder", "bad room=480p"},
		{"--hls-room-ladder", "studio=480p:1"},
	} {
		if _, err := Load(args, func(string) string { return "" }, io.Discard); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("Load %v: %v, want a one-line error", args, err)
		}
	}
}
