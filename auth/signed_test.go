package auth

import (
	"strings"
	"testing"
	"time"
)

func TestSignedURLs(t *testing.T) {
	c := newClock()
	s := newURLSigner([]byte("k"), 2*time.Minute, c.now)
	sig := s.short("studio")
	exp, err := s.verify("studio", sig)
	// the clock is 10:00:30: the short signature expires at 10:00 + 1 min + 2 min
	if err != nil || !exp.Equal(time.Date(2026, 12, 6, 10, 3, 0, 0, time.UTC)) {
		t.Fatalf("verify(short) = %v %v, want 10:03", exp, err)
	}
	c.add(29 * time.Second)
	if again := s.short("studio"); again != sig {
		t.Errorf("two signatures within one minute differ: %s, %s (a CDN would fetch twice)", sig, again)
	}
	for name, bad := range map[string]string{
		"other room": "", "tampered exp": "9" + sig, "tampered mac": sig[:len(sig)-2] + "AA", "no dot": "123", "garbage": "a.b",
	} {
		room := "studio"
		if name == "other room" {
			room, bad = "studio2", sig
		}
		if _, err := s.verify(room, bad); StatusOf(err) != 401 {
			t.Errorf("%s: %v, want 401", name, err)
		}
	}
	c.add(2*time.Minute + time.Second)
	if _, err := s.verify("studio", sig); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("after its expiry: %v, want expired", err)
	}
	tokenExp := c.now().Add(42*time.Minute + 17*time.Second)
	long, _ := s.verify("studio", s.long("studio", tokenExp))
	if want := tokenExp.Truncate(time.Minute); !long.Equal(want) {
		t.Errorf("long signature expires %v, want the grant's expiry to the minute %v", long, want)
	}
}

const mediaPlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12.0
#EXT-X-PART-INF:PART-TARGET=0.333
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-MAP:URI="init0.mp4"
#EXTINF:2.000,
seg10.m4s
#EXT-X-PART:DURATION=0.333,URI="part11.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part11.1.m4s"
#EXT-X-RENDITION-REPORT:URI="../480p/index.m3u8",LAST-MSN=11,LAST-PART=0
`

func TestSignPlaylist(t *testing.T) {
	got := string(signPlaylist([]byte(mediaPlaylist), "P", "M"))
	want := strings.NewReplacer(`"init0.mp4"`, `"init0.mp4?s=M"`, "seg10.m4s\n", "seg10.m4s?s=M\n",
		`"part11.0.m4s"`, `"part11.0.m4s?s=M"`, `"part11.1.m4s"`, `"part11.1.m4s?s=M"`,
		`"../480p/index.m3u8"`, `"../480p/index.m3u8?s=P"`).Replace(mediaPlaylist)
	if got != want {
		t.Fatalf("signed playlist:\n%s\nwant:\n%s", got, want)
	}
	dvr := "#EXTM3U\r\n#EXT-X-STREAM-INF:BANDWIDTH=1\r\nhi.m3u8?start=over\r\n"
	if got := string(signPlaylist([]byte(dvr), "P", "M")); got != strings.Replace(dvr, "over\r", "over&s=P\r", 1) {
		t.Errorf("a URI with a query, CRLF lines: %q", got)
	}
}

// BenchmarkSignPlaylist is the signed-URL cost added to each LL-HLS playlist answer (a
// typical live media playlist: 3 segments of 6 parts, hint and reports).
func BenchmarkSignPlaylist(b *testing.B) {
	var pl strings.Builder
	pl.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init0.mp4\"\n")
	for seg := range 3 {
		for part := range 6 {
			pl.WriteString("#EXT-X-PART:DURATION=0.333,URI=\"part1" + string(rune('0'+seg)) + "." + string(rune('0'+part)) + ".m4s\"\n")
		}
		pl.WriteString("#EXTINF:2.000,\nseg1" + string(rune('0'+seg)) + ".m4s\n")
	}
	pl.WriteString("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part13.0.m4s\"\n#EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8\",LAST-MSN=13\n")
	body := []byte(pl.String())
	c := newClock()
	s := newURLSigner([]byte(testSecret), DefaultURLTTL, c.now)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = signPlaylist(body, s.long("studio", time.Time{}), s.short("studio"))
	}
}

// BenchmarkVerifySignedURL is the check of one signed part, segment or init URL.
func BenchmarkVerifySignedURL(b *testing.B) {
	c := newClock()
	s := newURLSigner([]byte(testSecret), DefaultURLTTL, c.now)
	sig := s.short("studio")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.verify("studio", sig); err != nil {
			b.Fatal(err)
		}
	}
}
