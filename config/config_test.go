package config

import (
	"strings"
	"testing"
)

func TestValidRoomName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"a", true},
		{"0", true},
		{"lobby", true},
		{"Quiz_Night-2", true},
		{"a-", true},
		{"a_", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"-lobby", false},
		{"_lobby", false},
		{"lob by", false},
		{"lobby/1", false},
		{"../etc", false},
		{"lobby.", false},
		{"lobby\n", false},
		{"\nlobby", false},
		{"lobby%20", false},
		{"lobbÿ", false},
		{"ｌobby", false}, // full-width l
	}
	for _, tt := range tests {
		if got := ValidRoomName(tt.name); got != tt.want {
			t.Errorf("ValidRoomName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDefaultsValidate(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, want := range []struct {
		what string
		ok   bool
	}{
		{"HTTP on :8080", c.HTTPAddr == ":8080"},
		{"UDP media on 8189", c.UDPPort == 8189},
		{"ICE-TCP on", c.ICETCP},
		{"second publisher rejected", c.PublisherPolicy == PolicyReject},
		{"no room tokens, non-nil map", c.RoomTokens != nil && len(c.RoomTokens) == 0},
	} {
		if !want.ok {
			t.Errorf("default: want %s, got %+v", want.what, c)
		}
	}
}

// roomNameRule is ValidRoomName's documented rule written out by hand: 1-64 characters of
// [A-Za-z0-9_-], starting with a letter or digit.
func roomNameRule(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func FuzzValidRoomName(f *testing.F) {
	for _, s := range []string{"lobby", "a", "-a", "a b", strings.Repeat("z", 64), strings.Repeat("z", 65), "x\n", "ÿ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := ValidRoomName(name)
		if want := roomNameRule(name); got != want {
			t.Fatalf("ValidRoomName(%q) = %v, documented rule says %v", name, got, want)
		}
	})
}
