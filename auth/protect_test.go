package auth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeNode answers every path with 200: playlists (.m3u8) with mediaPlaylist, anything
// else with "ok"; it records the grant Protect passed on.
func fakeNode(grants chan<- Grant) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g, ok := GrantFrom(r.Context()); ok && grants != nil {
			select {
			case grants <- g:
			default:
			}
		}
		if strings.HasSuffix(r.URL.Path, ".m3u8") {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "public, max-age=1")
			_, _ = io.WriteString(w, mediaPlaylist)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
}

func do(t *testing.T, h http.Handler, method, target, token string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader("v=0"))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.RemoteAddr = "192.0.2.1:5000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestEveryEntryIsChecked: each kind of URL is refused without a credential (401 with
// WWW-Authenticate: Bearer), refused with the wrong role (403) and served with the right
// one; pages, health and CORS preflights stay open.
func TestEveryEntryIsChecked(t *testing.T) {
	c := newClock()
	a := newTestAuthorizer(t, c, Options{Secret: []byte(testSecret)})
	h := a.Protect(fakeNode(nil))
	pub, sub, admin := mint(t, c, "studio", "publish", "1h"), mint(t, c, "studio", "subscribe", "1h"), mint(t, c, "*", "admin", "1h")
	for _, tc := range []struct {
		method, path string
		right, wrong string
	}{
		{"POST", "/whip/studio", pub, sub},
		{"PATCH", "/whip/studio/s1", pub, sub},
		{"DELETE", "/whip/studio/s1", pub, sub},
		{"POST", "/whep/studio", sub, pub},
		{"PATCH", "/whep/studio/s1", sub, pub},
		{"DELETE", "/whep/studio/s1", sub, pub},
		{"POST", "/whep/studio/s1/layer", sub, pub},
		{"GET", "/hls/studio/index.m3u8", sub, pub},
		{"GET", "/hls/studio/720p/index.m3u8", sub, pub},
		{"GET", "/hls/studio/720p/part3.1.m4s", sub, pub},
		{"GET", "/hls/studio/720p/seg3.m4s", sub, pub},
		{"GET", "/hls/studio/720p/init0.mp4", sub, pub},
		{"GET", "/dvr/studio/index.m3u8", sub, pub},
		{"GET", "/dvr/recordings/studio.20261206T100000Z/index.m3u8", sub, pub},
		{"GET", "/dvr/recordings/studio.20261206T100000Z/hi/seg-4.m4s", sub, pub},
		{"GET", "/dvr/clips/c0123456789abcdef/index.m3u8", admin, sub},
		{"GET", "/api/rooms/studio/events", sub, pub},
		{"GET", "/ws/rooms/studio", sub, pub},
		{"GET", "/api/rooms", admin, sub},
		{"GET", "/api/rooms/studio", admin, sub},
		{"GET", "/api/recordings", admin, sub},
		{"POST", "/api/rooms/studio/clips", admin, sub},
		{"GET", "/debug/pprof/", admin, pub},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp := do(t, h, tc.method, tc.path, "")
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("no token: %d, WWW-Authenticate %q; want 401 Bearer", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			if resp := do(t, h, tc.method, tc.path, tc.wrong); resp.StatusCode != 403 {
				t.Errorf("wrong role: %d, want 403", resp.StatusCode)
			}
			if resp := do(t, h, tc.method, tc.path, tc.right); resp.StatusCode != 200 {
				t.Errorf("right grant: %d, want 200", resp.StatusCode)
			}
			q := "?token=" + url.QueryEscape(tc.right)
			if strings.Contains(tc.path, "?") {
				q = "&" + q[1:]
			}
			if resp := do(t, h, tc.method, tc.path+q, ""); resp.StatusCode != 200 {
				t.Errorf("right grant in ?token=: %d, want 200", resp.StatusCode)
			}
		})
	}
	if resp := do(t, h, "GET", "/api/sessions/abc", ""); resp.StatusCode != 401 {
		t.Errorf("GET /api/sessions/abc without a token: %d, want 401", resp.StatusCode)
	}
	if resp := do(t, h, "GET", "/api/sessions/abc", sub); resp.StatusCode != 200 {
		t.Errorf("GET /api/sessions/abc with a token: %d, want it passed on (signaling checks the room)", resp.StatusCode)
	}
	for _, open := range []string{"/", "/watch.html", "/static/watch.js", "/healthz", "/metrics", "/api/time", "/dash/time"} {
		if resp := do(t, h, "GET", open, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200 (open)", open, resp.StatusCode)
		}
	}
	if resp := do(t, h, "OPTIONS", "/whip/studio", ""); resp.StatusCode != 200 {
		t.Errorf("OPTIONS /whip/studio: %d, want it passed on", resp.StatusCode)
	}
	if resp := do(t, h, "POST", "/whip/bad.room", pub); resp.StatusCode != 400 {
		t.Errorf("bad room name: %d, want 400", resp.StatusCode)
	}
	_ = do(t, h, "POST", "/whip/studio", "garbage")
	_ = do(t, h, "GET", "/hls/studio/x/part1.0.m4s?s=1.AAAA", "")
	d := a.Denials()
	if d[DenyNoCredential] == 0 || d[DenyForbidden] == 0 || d[DenyBadRequest] != 1 || d[DenyInvalid] != 1 || d[DenySignedURL] != 1 || len(d) != len(denyKinds) {
		t.Errorf("denials %v: want every kind, counted", d)
	}
}

// TestSimpleModeKeepsUnlistedRoomsOpen: with room tokens alone, a listed room needs its
// token, an unlisted one is open as before, and the API needs the admin key.
func TestSimpleModeKeepsUnlistedRoomsOpen(t *testing.T) {
	c := newClock()
	a := newTestAuthorizer(t, c, Options{RoomTokens: map[string]string{"studio": "s3cret"}, AdminKey: "adm1n"})
	h := a.Protect(fakeNode(nil))
	for _, tc := range []struct {
		method, path, token string
		status              int
	}{
		{"POST", "/whip/studio", "", 401}, {"POST", "/whip/studio", "wrong", 401}, {"POST", "/whip/studio", "s3cret", 200},
		{"POST", "/whep/studio", "s3cret", 200}, {"GET", "/hls/studio/index.m3u8", "", 401}, {"GET", "/hls/studio/index.m3u8", "s3cret", 200},
		{"POST", "/whip/lobby", "", 200}, {"GET", "/hls/lobby/index.m3u8", "", 200},
		{"GET", "/api/rooms", "", 401}, {"GET", "/api/rooms", "s3cret", 403}, {"GET", "/api/rooms", "adm1n", 200},
	} {
		if resp := do(t, h, tc.method, tc.path, tc.token); resp.StatusCode != tc.status {
			t.Errorf("%s %s token %q: %d, want %d", tc.method, tc.path, tc.token, resp.StatusCode, tc.status)
		}
	}
	if ingest := a.AuthorizeIngest(context.Background(), IngestRequest{Room: "lobby", Protocol: "rtmp"}); StatusOf(ingest) != 401 {
		t.Errorf("RTMP to an unlisted room without a key: %v, want refused (auth is configured)", ingest)
	}
	if err := a.AuthorizeIngest(context.Background(), IngestRequest{Room: "studio", Key: "s3cret", Protocol: "srt"}); err != nil {
		t.Errorf("SRT with the room token as key: %v", err)
	}
}

// TestAuthOffChangesNothing: with nothing configured Protect is the handler itself and
// ingest is open.
func TestAuthOffChangesNothing(t *testing.T) {
	a := newTestAuthorizer(t, newClock(), Options{})
	node := fakeNode(nil)
	if a.Protect(node) == nil || a.Enabled() {
		t.Fatal("auth on with nothing configured")
	}
	if resp := do(t, a.Protect(node), "GET", "/api/rooms", ""); resp.StatusCode != 200 {
		t.Errorf("GET /api/rooms: %d", resp.StatusCode)
	}
	if err := a.AuthorizeIngest(context.Background(), IngestRequest{Room: "x"}); err != nil {
		t.Errorf("ingest: %v", err)
	}
}

// TestSignedPlaylistFlow: a token on the multivariant playlist yields signed URIs; those
// serve without the token, the signature is bound to the room and expires.
func TestSignedPlaylistFlow(t *testing.T) {
	c := newClock()
	a := newTestAuthorizer(t, c, Options{Secret: []byte(testSecret), URLTTL: time.Minute})
	grants := make(chan Grant, 1)
	h := a.Protect(fakeNode(grants))
	sub := mint(t, c, "studio", "subscribe", "2h")
	resp := do(t, h, "GET", "/hls/studio/index.m3u8?token="+sub, "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("multivariant: %d, Content-Length %s for %d bytes", resp.StatusCode, resp.Header.Get("Content-Length"), len(body))
	}
	if g := <-grants; g.Source != "jwt" || g.Room != "studio" {
		t.Errorf("grant passed on: %+v", g)
	}
	part := uriWith(t, string(body), "part11.0.m4s?s=")
	report := uriWith(t, string(body), "index.m3u8?s=")
	for _, u := range []string{"/hls/studio/720p/" + part, "/hls/studio/480p/" + strings.TrimPrefix(report, "../480p/")} {
		if resp := do(t, h, "GET", u, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200", u, resp.StatusCode)
		}
		if resp := do(t, h, "GET", strings.Replace(u, "/studio/", "/stage/", 1), ""); resp.StatusCode != 401 {
			t.Errorf("studio's signature on room stage: %d, want 401", resp.StatusCode)
		}
	}
	gz := httptest.NewRequest("GET", "/hls/studio/720p/index.m3u8?"+strings.SplitN(report, "?", 2)[1], nil)
	gz.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, gz)
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("gzip media playlist: %d %q", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	if resp := do(t, h, "GET", "/hls/studio/720p/index.m3u8", sub); resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "private, max-age=1" {
		t.Errorf("playlist for a bearer header: %d, Cache-Control %q, want private", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	c.add(3 * time.Minute)
	if resp := do(t, h, "GET", "/hls/studio/720p/"+part, ""); resp.StatusCode != 401 {
		t.Errorf("part URL past its expiry: %d, want 401", resp.StatusCode)
	}
	if resp := do(t, h, "GET", "/hls/studio/480p/"+strings.TrimPrefix(report, "../480p/"), ""); resp.StatusCode != 200 {
		t.Errorf("media playlist URL within the token's life: %d, want 200", resp.StatusCode)
	}
}

func uriWith(t *testing.T, playlist, substr string) string {
	t.Helper()
	for _, line := range strings.Split(playlist, "\n") {
		if i := strings.Index(line, substr); i >= 0 {
			start := strings.LastIndexAny(line[:i], "\"\n") + 1
			end := strings.IndexAny(line[i:]+"\"", "\"")
			return line[start : i+end]
		}
	}
	t.Fatalf("no URI with %q in\n%s", substr, playlist)
	return ""
}

// BenchmarkCheck is the cost of authorizing one request by its bearer JWT.
func BenchmarkCheck(b *testing.B) {
	c := newClock()
	a := newTestAuthorizer(b, c, Options{Secret: []byte(testSecret)})
	req := httptest.NewRequest("POST", "/whep/studio", nil)
	req.Header.Set("Authorization", "Bearer "+mint(b, c, "studio", "subscribe", "1h"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Check(req, "studio", Subscribe); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProtectSignedPart is the auth cost of one LL-HLS part request through Protect
// (rule, signature check, grant in the context).
func BenchmarkProtectSignedPart(b *testing.B) {
	c := newClock()
	a := newTestAuthorizer(b, c, Options{Secret: []byte(testSecret)})
	h := a.Protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/hls/studio/720p/part11.0.m4s?s="+a.signer.short("studio"), nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
	if w.Code != 200 {
		b.Fatalf("status %d", w.Code)
	}
}
