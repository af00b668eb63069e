package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/sfu"
)

const (
	authTestSecret = "auth-test-secret-0123456789abcdef"
	authTestAdmin  = "adm1n-key"
)

// authNode runs `glint serve` with an HS256 secret and an admin key, RTMP and SRT ingest,
// LL-HLS (source only) and the DVR, until the test ends.
type authNode struct {
	base, rtmp, srt string
	http            *http.Client
}

func startAuthNode(t *testing.T) *authNode {
	t.Helper()
	web, rtmp, srtPort := freeTCPAddr(t), freeTCPAddr(t), freeTCPAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--http-addr", web, "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
			"--rtmp-addr", rtmp, "--srt-addr", srtPort, "--hls-segment", "1s", "--hls-part", "250ms", "--hls-ladder", "source",
			"--data-dir", t.TempDir(), "--log-level", "warn", "--auth-secret", authTestSecret, "--auth-admin-key", authTestAdmin}, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	n := &authNode{base: "http://" + web, rtmp: "rtmp://" + rtmp + "/live/", srt: srtPort, http: &http.Client{Timeout: 10 * time.Second}}
	testkit.Eventually(t, testkit.Context(t, 30*time.Second), "glint serve answering /healthz", func() bool {
		return n.status(t, "GET", "/healthz", "") == http.StatusOK
	})
	return n
}

func token(t *testing.T, room, role, ttl string) string {
	t.Helper()
	tok, _, err := auth.Mint([]byte(authTestSecret), auth.TokenRequest{Room: room, Role: role, TTL: ttl}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// send sends method path (relative to the node, or absolute) with bearer, if any, and
// reads the answer.
func (n *authNode) send(method, path, bearer string, body io.Reader) (*http.Response, string, error) {
	if !strings.HasPrefix(path, "http") {
		path = n.base + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		return nil, "", err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, string(data), err
}

// do is send that fails the test on a transport error.
func (n *authNode) do(t *testing.T, method, path, bearer string, body io.Reader) (*http.Response, string) {
	t.Helper()
	resp, data, err := n.send(method, path, bearer, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, data
}

// status is the answer's status, 0 on a transport error.
func (n *authNode) status(_ *testing.T, method, path, bearer string) int {
	resp, _, err := n.send(method, path, bearer, nil)
	if err != nil {
		return 0
	}
	return resp.StatusCode
}

// mustRefuse checks that method path answers want with WWW-Authenticate: Bearer (401).
func (n *authNode) mustRefuse(t *testing.T, method, path, bearer string, want int) {
	t.Helper()
	resp, body := n.do(t, method, path, bearer, nil)
	if resp.StatusCode != want {
		t.Errorf("%s %s: %d %s, want %d", method, path, resp.StatusCode, body, want)
	}
	if want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s %s: 401 without WWW-Authenticate: Bearer", method, path)
	}
}

// TestServeAuth runs a protected node end to end: RTMP and SRT need a publish token as
// stream key; each LL-HLS URL kind (multivariant, media playlist, part, segment, init)
// and the DVR's are refused without a token, refused with the wrong role, and served
// through signed URLs after a subscribe token on the multivariant playlist; the room's
// events, the API and token minting need their roles; a WHEP viewer needs a subscribe
// token and is disconnected when it expires, after which the token is refused.
func TestServeAuth(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	ctx := testkit.Context(t, 3*time.Minute)
	n := startAuthNode(t)
	pubStudio, subStudio := token(t, "studio", "publish", "1h"), token(t, "studio", "subscribe", "1h")

	for name, key := range map[string]string{"no key": "", "subscribe token": subStudio, "other room's token": token(t, "stage", "publish", "1h")} {
		u := n.rtmp + "studio"
		if key != "" {
			u += "?key=" + key
		}
		if p := publish(t, u); p.Wait(time.Minute) == nil {
			t.Fatalf("RTMP with %s: ffmpeg exited 0, want a refusal", name)
		}
	}
	ffmpeg := publish(t, n.rtmp+"studio?key="+pubStudio)
	defer ffmpeg.Kill()

	srtURL := func(key string) string {
		return fmt.Sprintf("srt://%s?streamid=publish:cam2/%s&pkt_size=1316", n.srt, key)
	}
	srtPush := func(key string, seconds string) *testkit.Proc {
		return testkit.StartProc(t, testkit.ProcOptions{Name: "ffmpeg srt"}, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
			"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
			"-g", "30", "-pix_fmt", "yuv420p", "-t", seconds, "-f", "mpegts", srtURL(key))
	}
	if p := srtPush("wrong", "5"); p.Wait(time.Minute) == nil {
		t.Error("SRT with a wrong key: ffmpeg exited 0, want a rejection")
	}
	srtOK := srtPush(token(t, "cam*", "publish", "1h"), "60")
	defer srtOK.Kill()

	checkHLS(t, ctx, n, subStudio, pubStudio)
	checkDVR(t, ctx, n, subStudio, pubStudio)
	testkit.Eventually(t, ctx, "room cam2 live over SRT with a prefix publish token", func() bool {
		resp, body := n.do(t, "GET", "/api/rooms/cam2", authTestAdmin, nil)
		return resp.StatusCode == 200 && strings.Contains(body, `"live":true`)
	})
	checkAPI(t, n, subStudio)
	checkWHEPExpiry(t, ctx, n, pubStudio)
}

// checkHLS walks the LL-HLS URLs of studio: multivariant with ?token=, then the signed
// media playlist, part, segment and init URIs; each also without its signature.
func checkHLS(t *testing.T, ctx context.Context, n *authNode, sub, pub string) {
	media, mediaBody := n.signedPlaylists(t, ctx, "/hls/studio/", sub, pub, func(b string) bool {
		return strings.Contains(b, "#EXTINF") && strings.Contains(b, "#EXT-X-PART:")
	})
	dir := media[:strings.LastIndex(media, "/")+1]
	kinds := map[string]string{"media playlist": media}
	for kind, marker := range map[string]string{"part": "part", "segment": "seg", "init": "init"} {
		kinds[kind] = dir + firstURI(t, mediaBody, marker)
	}
	for kind, u := range kinds {
		if code := n.status(t, "GET", u, ""); code != 200 {
			t.Errorf("%s %s: %d, want 200", kind, u, code)
		}
		unsigned := strings.Split(u, "?")[0]
		n.mustRefuse(t, "GET", unsigned, "", 401)
		n.mustRefuse(t, "GET", unsigned+"?token="+pub, "", 403)
		if code := n.status(t, "GET", strings.Replace(u, "/studio/", "/cam2/", 1), ""); code != 401 {
			t.Errorf("%s signed for studio, asked in cam2: %d, want 401", kind, code)
		}
	}
}

// signedPlaylists checks that dir's multivariant playlist is refused without a token and
// with pub, gets it with sub, and returns the first media playlist's signed URL and its
// body once ready holds for it.
func (n *authNode) signedPlaylists(t *testing.T, ctx context.Context, dir, sub, pub string, ready func(string) bool) (string, string) {
	mv := dir + "index.m3u8"
	n.mustRefuse(t, "GET", mv, "", 401)
	n.mustRefuse(t, "GET", mv+"?token="+pub, "", 403)
	n.mustRefuse(t, "GET", mv, pub, 403)
	var body string
	testkit.Eventually(t, ctx, mv+" with a subscribe token", func() bool {
		resp, b := n.do(t, "GET", mv+"?token="+sub, "", nil)
		body = b
		return resp.StatusCode == 200
	})
	media := n.base + dir + firstURI(t, body, ".m3u8")
	var mediaBody string
	testkit.Eventually(t, ctx, "a ready media playlist under "+dir, func() bool {
		resp, b := n.do(t, "GET", media, "", nil)
		mediaBody = b
		return resp.StatusCode == 200 && ready(b)
	})
	return media, mediaBody
}

// firstURI is the first URI in playlist (a line or a URI="" attribute) containing marker.
func firstURI(t *testing.T, playlist, marker string) string {
	t.Helper()
	for _, line := range strings.Split(playlist, "\n") {
		line = strings.TrimSpace(line)
		uri := line
		if strings.HasPrefix(line, "#") {
			_, after, ok := strings.Cut(line, `URI="`)
			if !ok {
				continue
			}
			uri, _, _ = strings.Cut(after, `"`)
		}
		if strings.HasPrefix(uri, marker) || strings.Contains(uri, "/"+marker) || (marker == ".m3u8" && strings.Contains(uri, marker)) {
			if !strings.Contains(uri, "s=") {
				t.Fatalf("URI %q is not signed", uri)
			}
			return uri
		}
	}
	t.Fatalf("no URI with %q in\n%s", marker, playlist)
	return ""
}

// checkDVR: the DVR window playlist needs the token, its media playlist and segments are
// served signed.
func checkDVR(t *testing.T, ctx context.Context, n *authNode, sub, pub string) {
	media, mediaBody := n.signedPlaylists(t, ctx, "/dvr/studio/", sub, pub, func(b string) bool { return strings.Contains(b, "seg-") })
	seg, _ := url.Parse(media)
	seg, _ = seg.Parse(firstURI(t, mediaBody, "../recordings/"))
	if code := n.status(t, "GET", seg.String(), ""); code != 200 {
		t.Errorf("DVR segment %s: %d, want 200", seg, code)
	}
	seg.RawQuery = ""
	n.mustRefuse(t, "GET", seg.String(), "", 401)
	n.mustRefuse(t, "GET", strings.Split(media, "?")[0], "", 401)
}

// checkAPI: the room list needs admin; the room's events need subscribe; tokens are
// minted by an admin only, with clear 400s.
func checkAPI(t *testing.T, n *authNode, sub string) {
	n.mustRefuse(t, "GET", "/api/rooms", "", 401)
	n.mustRefuse(t, "GET", "/api/rooms", sub, 403)
	if code := n.status(t, "GET", "/api/rooms", authTestAdmin); code != 200 {
		t.Errorf("GET /api/rooms as admin: %d", code)
	}
	n.mustRefuse(t, "GET", "/api/rooms/studio/events", "", 401)
	req, _ := http.NewRequest("GET", n.base+"/api/rooms/studio/events?token="+sub, nil)
	reqCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := n.http.Do(req.WithContext(reqCtx))
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("events with a subscribe token: %v %v", resp, err)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
	mintReq := func(bearer, body string) (int, string) {
		resp, b := n.do(t, "POST", "/api/tokens", bearer, strings.NewReader(body))
		return resp.StatusCode, b
	}
	if code, _ := mintReq(sub, `{"room":"studio","role":"publish"}`); code != 403 {
		t.Errorf("POST /api/tokens with a subscribe token: %d, want 403", code)
	}
	for _, bad := range []string{`{"room":"bad room","role":"publish"}`, `{"room":"studio","role":"king"}`, `{"room":"studio","role":"publish","ttl":"forever"}`, `{"rooom":"x"}`, `nope`} {
		if code, body := mintReq(authTestAdmin, bad); code != 400 || !strings.Contains(body, "error") {
			t.Errorf("POST /api/tokens %s: %d %s, want 400 with a reason", bad, code, body)
		}
	}
	code, body := mintReq(authTestAdmin, `{"room":"studio","role":"subscribe","ttl":"10m"}`)
	var minted auth.TokenResponse
	if code != 201 || json.Unmarshal([]byte(body), &minted) != nil || minted.Token == "" {
		t.Fatalf("POST /api/tokens as admin: %d %s", code, body)
	}
	if code := n.status(t, "GET", "/hls/studio/index.m3u8?token="+minted.Token, ""); code != 200 {
		t.Errorf("the minted token on the multivariant playlist: %d", code)
	}
}

// checkWHEPExpiry: WHEP and WHIP need their roles; a viewer whose token expires is
// disconnected then, and its token no longer starts a session.
func checkWHEPExpiry(t *testing.T, ctx context.Context, n *authNode, pub string) {
	whep := n.base + "/whep/studio"
	play := func(tok string) (*client.Session, error) {
		return client.Play(ctx, whep, client.Options{Token: tok, LoopbackOnly: true}, webrtc.RTPCodecTypeVideo)
	}
	for name, tc := range map[string]struct {
		tok  string
		want int
	}{"no token": {"", 401}, "publish token": {pub, 403}} {
		_, err := play(tc.tok)
		if herr := (*client.HTTPError)(nil); !errors.As(err, &herr) || herr.Status != tc.want {
			t.Errorf("WHEP with %s: %v, want %d", name, err, tc.want)
		}
	}
	n.mustRefuse(t, "POST", "/whip/studio", token(t, "studio", "subscribe", "1h"), 403)
	short := token(t, "studio", "subscribe", "6s")
	sess, err := play(short)
	if err != nil {
		t.Fatalf("WHEP with a subscribe token: %v", err)
	}
	defer func() { _ = sess.Close(context.Background()) }()
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("viewer not connected: %v", err)
	}
	viewers := func() int {
		_, body := n.do(t, "GET", "/api/rooms/studio", authTestAdmin, nil)
		var info sfu.RoomInfo
		_ = json.Unmarshal([]byte(body), &info)
		return info.Viewers
	}
	if v := viewers(); v != 1 {
		t.Fatalf("%d viewers before the token expires, want 1", v)
	}
	testkit.Eventually(t, ctx, "the viewer's session closed at its token's expiry", func() bool { return viewers() == 0 })
	if _, err := play(short); !errors.As(err, new(*client.HTTPError)) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("WHEP with the expired token: %v, want 401", err)
	}
}
