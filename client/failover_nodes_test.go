package client

import (
	"slices"
	"testing"
	"time"
)

func TestSplitWHEP(t *testing.T) {
	for _, tc := range []struct {
		in, base, path string
	}{
		{"http://127.0.0.1:8080/whep/show", "http://127.0.0.1:8080", "whep/show"},
		{"https://edge.example/glint/whep/show?x=1", "https://edge.example/glint", "whep/show?x=1"},
		{"http://a:1/whep/whep/room", "http://a:1/whep", "whep/room"},
	} {
		base, path, err := splitWHEP(tc.in)
		if err != nil || base != tc.base || path != tc.path {
			t.Errorf("splitWHEP(%q) = %q, %q, %v; want %q, %q", tc.in, base, path, err, tc.base, tc.path)
		}
	}
}

func TestNodeBase(t *testing.T) {
	for in, want := range map[string]string{
		"http://b:8080":          "http://b:8080",
		"http://b:8080/":         "http://b:8080",
		" https://u:p@c/x/?q#f ": "https://c/x",
	} {
		if got, err := nodeBase(in); err != nil || got != want {
			t.Errorf("nodeBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "b:8080", "ftp://b", "http://"} {
		if got, err := nodeBase(bad); err == nil {
			t.Errorf("nodeBase(%q) = %q, want an error", bad, got)
		}
	}
}

// TestNodeListMovesRoundRobinWithThePagesBackoff: the rules of web/static/failover.js.
func TestNodeListMovesRoundRobinWithThePagesBackoff(t *testing.T) {
	l := newNodeList("http://a", defaultBackoff)
	if from, to, d := l.move(); from != "http://a" || to != "http://a" || d != 250*time.Millisecond || l.moveCount() != 0 {
		t.Fatalf("alone: move %s → %s after %v (%d moves), want to stay after 250ms", from, to, d, l.moveCount())
	}
	if n := l.add("http://b/", "http://a", "not a url", "http://c"); n != 2 {
		t.Fatalf("added %d, want 2 (b and c)", n)
	}
	var path []string
	var delays []time.Duration
	for range 7 {
		_, to, d := l.move()
		path, delays = append(path, to), append(delays, d)
	}
	if want := []string{"http://b", "http://c", "http://a", "http://b", "http://c", "http://a", "http://b"}; !slices.Equal(path, want) {
		t.Fatalf("moves %v, want %v", path, want)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if !slices.Equal(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	l.connected()
	if d := l.delay(); d != 250*time.Millisecond {
		t.Fatalf("delay after connecting %v, want 250ms again", d)
	}
	if l.moveCount() != 7 || l.current() != "http://b" {
		t.Fatalf("moves %d at %s, want 7 at http://b", l.moveCount(), l.current())
	}
}
