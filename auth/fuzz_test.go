package auth

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// FuzzVerifySignedURL: any s= value is refused or accepted without a panic, and only a
// signature the signer made for the room is accepted.
func FuzzVerifySignedURL(f *testing.F) {
	c := newClock()
	s := newURLSigner([]byte(testSecret), DefaultURLTTL, c.now)
	good := s.short("studio")
	for _, seed := range []string{good, "", ".", "1.", "99999999999999999999.AAAAAAAAAAAAAAAAAAAAAA", good[:len(good)-1], "-1." + strings.Repeat("A", 22)} {
		f.Add("studio", seed)
	}
	f.Fuzz(func(t *testing.T, room, sig string) {
		_, err := s.verify(room, sig)
		if err == nil && (sig != s.sign(room, parseExp(sig)) || room == "") {
			t.Fatalf("accepted %q for room %q", sig, room)
		}
	})
}

func parseExp(sig string) int64 {
	exp, _, _ := strings.Cut(sig, ".")
	var n int64
	for _, c := range exp {
		n = n*10 + int64(c-'0')
	}
	return n
}

// FuzzSignPlaylist: signing keeps every line (same count, same tags) and signs each URI.
func FuzzSignPlaylist(f *testing.F) {
	f.Add([]byte(mediaPlaylist))
	f.Add([]byte("#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4\r\nseg1.m4s?x=1\n\n#EXT-X-KEY:URI=\"\",URI=\"a\"\n"))
	f.Fuzz(func(t *testing.T, playlist []byte) {
		out := signPlaylist(playlist, "P", "M")
		if bytes.Count(out, []byte("\n")) != bytes.Count(playlist, []byte("\n")) {
			t.Fatalf("line count changed:\n%q\n%q", playlist, out)
		}
		for i, line := range strings.Split(string(out), "\n") {
			in := strings.Split(string(playlist), "\n")[i]
			if strings.TrimRight(in, "\r") != "" && !strings.HasPrefix(in, "#") && !strings.Contains(line, "s=") {
				t.Fatalf("URI line %q left unsigned: %q", in, line)
			}
		}
	})
}

// FuzzCheckToken: any bearer string is refused (401) or, if it is a valid token, granted;
// never a panic.
func FuzzCheckToken(f *testing.F) {
	c := newClock()
	a := newTestAuthorizer(f, c, Options{Secret: []byte(testSecret), RoomTokens: map[string]string{"lobby": "s3cret"}})
	f.Add(mint(f, c, "studio", "publish", "1h"))
	f.Add("eyJhbGciOiJub25lIn0.eyJyb29tIjoic3R1ZGlvIiwicm9sZSI6ImFkbWluIn0.")
	f.Add("eyJ..")
	f.Add("s3cret")
	f.Fuzz(func(t *testing.T, token string) {
		g, err := a.check(context.Background(), token, "studio", Publish, "whip", "")
		if err != nil && StatusOf(err) != 401 && StatusOf(err) != 403 {
			t.Fatalf("status %d for %q: %v", StatusOf(err), token, err)
		}
		if err == nil && (g.Source != "jwt" || !g.Covers("studio", Publish, c.now()) || g.Expires.Before(c.now().Add(-time.Hour))) {
			t.Fatalf("granted %+v for %q", g, token)
		}
	})
}
