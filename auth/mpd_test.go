package auth

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

const testMPD = `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic">
 <Period id="0" start="PT0S"><AdaptationSet id="0" contentType="video" mimeType="video/mp4">
  <Representation id="720p" bandwidth="1" codecs="avc1.42c01f">
   <SegmentTemplate timescale="90000" initialization="720p/init7.mp4" media="720p/seg$Number$.m4s" startNumber="7"></SegmentTemplate>
  </Representation></AdaptationSet></Period>
 <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http://glint.example/dash/time"></UTCTiming>
</MPD>`

// TestSignedMPDFlow: /dash/{room}/... needs subscribe like /hls/; the MPD fetched with a
// token comes back with its init and segment template URLs signed (the live edge's short
// signature), those URLs then pass without a token for that room only, and the time
// endpoint is open.
func TestSignedMPDFlow(t *testing.T) {
	c := newClock()
	a := newTestAuthorizer(t, c, Options{Secret: []byte(testSecret)})
	h := a.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".mpd") {
			w.Header().Set("Content-Type", "application/dash+xml")
			_, _ = io.WriteString(w, testMPD)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	sub, pub := mint(t, c, "studio", "subscribe", "2h"), mint(t, c, "studio", "publish", "2h")
	for _, path := range []string{"/dash/studio/manifest.mpd", "/dash/studio/720p/seg7.m4s", "/dash/studio/720p/init7.mp4"} {
		if resp := do(t, h, "GET", path, ""); resp.StatusCode != 401 {
			t.Errorf("GET %s without a token: %d, want 401", path, resp.StatusCode)
		}
		if resp := do(t, h, "GET", path, pub); resp.StatusCode != 403 {
			t.Errorf("GET %s with publish: %d, want 403", path, resp.StatusCode)
		}
	}
	if resp := do(t, h, "GET", "/dash/time", ""); resp.StatusCode != 200 {
		t.Errorf("GET /dash/time: %d, want 200 (open)", resp.StatusCode)
	}
	resp := do(t, h, "GET", "/dash/studio/manifest.mpd?token="+sub, "")
	body, _ := io.ReadAll(resp.Body)
	media := regexp.MustCompile(`media="(720p/seg\$Number\$\.m4s\?s=[^"]+)"`).FindStringSubmatch(string(body))
	init := regexp.MustCompile(`initialization="(720p/init7\.mp4\?s=[^"]+)"`).FindStringSubmatch(string(body))
	if resp.StatusCode != 200 || media == nil || init == nil || !strings.Contains(string(body), `value="http://glint.example/dash/time"`) {
		t.Fatalf("signed MPD: %d\n%s\nwant signed init and media templates, the time URL untouched", resp.StatusCode, body)
	}
	seg := "/dash/studio/" + strings.Replace(media[1], "$Number$", "9", 1)
	for _, u := range []string{seg, "/dash/studio/" + init[1]} {
		if resp := do(t, h, "GET", u, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200", u, resp.StatusCode)
		}
		if resp := do(t, h, "GET", strings.Replace(u, "/studio/", "/stage/", 1), ""); resp.StatusCode != 401 {
			t.Errorf("studio's signature on room stage: %d, want 401", resp.StatusCode)
		}
	}
}
