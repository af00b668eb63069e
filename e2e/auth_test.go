package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/internal/testkit"
)

const e2eAuthSecret = "e2e-auth-secret-0123456789abcdef-0123"

func e2eToken(t *testing.T, room, role string) string {
	t.Helper()
	tok, _, err := auth.Mint([]byte(e2eAuthSecret), auth.TokenRequest{Room: room, Role: role, TTL: "1h"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startProtectedHLS starts `glint serve` with an HS256 secret and LL-HLS (333 ms parts) and
// `glint demo` publishing into room with a publish token; it returns the server and the
// signed media playlist directory (/hls/{room}/{rendition}/?s=…) that the multivariant
// playlist, asked with a subscribe token, points to.
func startProtectedHLS(t *testing.T, room string) (*server, string) {
	t.Helper()
	srv := startServer(t, "--hls=true", "--hls-part", "333ms", "--auth-secret", e2eAuthSecret)
	testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/"+room),
		"--token", e2eToken(t, room, "publish"), "--size", "320x180", "--bitrate", "400", "--loopback", "--log-level", "warn")
	variant := regexp.MustCompile(`(?m)^([\w-]+)/index\.m3u8\?(s=[\w.-]+)$`)
	sub := e2eToken(t, room, "subscribe")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, body := httpGet(srv.url("/hls/" + room + "/index.m3u8?token=" + sub)); code == http.StatusOK {
			if m := variant.FindStringSubmatch(body); m != nil {
				dir := "/hls/" + room + "/" + m[1] + "/"
				if code, body := httpGet(srv.url(dir + "index.m3u8?" + m[2])); code == http.StatusOK {
					if _, err := parseMediaList(body); err == nil {
						return srv, dir + "?" + m[2]
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no signed LL-HLS media playlist with a preload hint under %s within 60 s", srv.url("/hls/"+room+"/"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestSignedHLSThroughVarnish: behind the Varnish edge of docs/edge/, 20 LL-HLS pollers
// follow a protected room through signed URLs (docs/auth.md): every poller gets every part,
// the origin still gets about one request per part (≤ 1.5 on average, as
// TestCachingEdge's bound: every viewer shares the same signed part URLs), and an unsigned
// or foreign-signed part URL is refused through the edge.
func TestSignedHLSThroughVarnish(t *testing.T) {
	requireFFmpeg(t)
	varnishd, _ := requireEdgeTools(t)
	origin, signedDir := startProtectedHLS(t, "secure")
	counter := startOriginCounter(t, origin)
	edge := startVarnish(t, varnishd, counter.addr)
	dir, sig, _ := strings.Cut(signedDir, "?")
	if code, _ := httpGet(edge + dir + "index.m3u8"); code != http.StatusUnauthorized {
		t.Errorf("media playlist without its signature through the edge: %d, want 401", code)
	}
	if code, _ := httpGet(edge + "/hls/secure/index.m3u8"); code != http.StatusUnauthorized {
		t.Errorf("multivariant playlist without a token through the edge: %d, want 401", code)
	}
	st := pollThrough(t, edge+signedDir, counter, 20, 15*time.Second)
	t.Logf("varnish, 20 pollers of signed URLs: %s", st)
	perPart, signed := map[string]int{}, 0
	for key, o := range counter.snapshot() {
		path, query, _ := strings.Cut(key, "?")
		if !strings.Contains(path, "/part") {
			continue
		}
		perPart[path] += o.requests
		if v, _ := url.ParseQuery(query); v.Get("s") != "" && v.Get("s") != strings.TrimPrefix(sig, "s=") {
			signed += o.requests // the short part signature, not the playlist's
		}
	}
	total, most := 0, 0
	for _, n := range perPart {
		total += n
		most = max(most, n)
	}
	if len(perPart) < 20 || signed != total {
		t.Fatalf("%d parts reached the origin, %d of %d requests with the short part signature; want ≥ 20 parts, all signed", len(perPart), signed, total)
	}
	if avg := float64(total) / float64(len(perPart)); avg > 1.5 || most > 3 {
		t.Errorf("%.2f origin requests per part on average (at most %d for one), want ≤ 1.5 (≤ 3): signed URLs must not split the edge's cache", avg, most)
	}
	var somePart string
	for p := range perPart {
		somePart = p
		break
	}
	if code, _ := httpGet(edge + somePart); code != http.StatusUnauthorized {
		t.Errorf("part %s without a signature through the edge: %d, want 401", somePart, code)
	}
	if code, _ := httpGet(edge + strings.Replace(somePart, "/secure/", "/other/", 1) + "?" + sig); code != http.StatusUnauthorized {
		t.Errorf("a signature of room secure on room other: %d, want 401", code)
	}
}

// TestWatchPageWithToken: Chromium plays a protected room through the watch page, the
// token in the page's URL: LL-HLS (?mode=hls: hls.js on ?token= then signed URLs) and
// WebRTC (WHEP with the bearer token); without the token the page does not play.
func TestWatchPageWithToken(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	requireHLSPlayer(t)
	srv, _ := startProtectedHLS(t, "private")
	sub := e2eToken(t, "private", "subscribe")
	hls := startBrowser(t, "watch", srv.url("/watch/private"), 40, "--query=mode=hls", "--query=token="+sub)
	hls.waitHLS(60*time.Second, "hls.js playing the protected room", func(s hlsPageState) bool {
		return s.Mode == "hls" && s.HLS.CurrentTime > 2 && s.Video.FrameWidth > 0
	})
	hls.finish()
	rtc := startBrowser(t, "watch", srv.url("/watch/private"), 40, "--query=token="+sub)
	rtc.waitState(60*time.Second, "WebRTC playing the protected room", func(s pageState) bool {
		return s.State == "live" && s.Video.FrameWidth > 0 && s.Video.FramesDecoded > 30
	})
	rtc.finish()
}
