package dvr

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// do sends a request to the fixture's server and returns its status and body.
func do(t *testing.T, f *dvrFixture, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestBadInput: every malformed or unknown name, query and clip range gets its 4xx and a
// one-line reason.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	rec := "/dvr/recordings/" + f.ended.id
	clip := `{"recording": "` + f.ended.id + `", `
	cases := []struct {
		method, path, body string
		code               int
		reason             string // a part of the reason
	}{
		{"GET", "/dvr/nosuch/index.m3u8", "", 404, "no recording of room nosuch"},
		{"GET", "/dvr/room1/zz.m3u8", "", 404, "unknown rendition zz"},
		{"GET", rec + "/zz.m3u8", "", 404, "unknown rendition zz"},
		{"GET", "/dvr/room1/hi.mp4", "", 400, "malformed playlist name"},
		{"GET", "/dvr/room1/hi.m3u8?t=yesterday", "", 400, "not an RFC 3339 time"},
		{"GET", "/dvr/room1/hi.m3u8?t=2020-01-01T00:00:00Z", "", 416, "outside the playlist"},
		{"GET", "/dvr/room1/hi.m3u8?t=2026-12-05T21:00:01Z", "", 416, "outside the playlist"}, // before the window
		{"GET", rec + "/hi.m3u8?t=2026-12-05T20:05:00Z", "", 416, "outside the playlist"},
		{"GET", "/dvr/room1/hi.m3u8?start=later", "", 400, "only start=over"},
		{"GET", "/dvr/recordings/room1.20200101T000000Z/index.m3u8", "", 404, "unknown recording"},
		{"GET", "/dvr/recordings/..%2F..%2Fetc/index.m3u8", "", 400, "malformed recording id"},
		{"GET", rec + "/..%2F..%2Fpasswd/seg-1.m4s", "", 400, "malformed rendition"},
		{"GET", rec + "/hi/..%2Findex.jsonl", "", 400, "malformed file name"},
		{"GET", rec + "/hi/index.jsonl", "", 400, "malformed file name"},
		{"GET", rec + "/hi/seg-1.m4s", "", 404, "no seg-1.m4s"},
		{"GET", rec + "/hi/init-1.mp4", "", 404, "no init-1.mp4"},
		{"GET", rec + "/zz/seg-1.m4s", "", 404, "not found"},
		{"GET", "/api/recordings?room=..", "", 400, "malformed room"},
		{"GET", "/api/recordings/room1.20200101T000000Z", "", 404, "unknown recording"},
		{"GET", "/api/recordings/room1..x", "", 400, "malformed recording id"},
		{"DELETE", "/api/recordings/room1.20200101T000000Z", "", 404, "unknown recording"},
		{"DELETE", "/api/recordings/%2E%2E", "", 400, "malformed recording id"},
		{"DELETE", "/api/recordings/" + f.live.id, "", 409, "live"},
		{"POST", "/api/rooms/nosuch/clips", `{"last": 5}`, 404, "no recording of room nosuch"},
		{"POST", "/api/rooms/room1/clips", `{"last": `, 400, "malformed JSON"},
		{"POST", "/api/rooms/room1/clips", `{"last": 5, "colour": "red"}`, 400, "malformed JSON"},
		{"POST", "/api/rooms/room1/clips", `{}`, 400, "give {start, end}"},
		{"POST", "/api/rooms/room1/clips", `{"last": 5, "start_offset": 1, "end_offset": 3}`, 400, "give {start, end}"},
		{"POST", "/api/rooms/room1/clips", `{"start_offset": 1}`, 400, "give {start, end}"},
		{"POST", "/api/rooms/room1/clips", `{"last": -5}`, 400, "positive"},
		{"POST", "/api/rooms/room1/clips", `{"start_offset": -1, "end_offset": 3}`, 400, "negative"},
		{"POST", "/api/rooms/room1/clips", clip + `"start_offset": 20, "end_offset": 10}`, 400, "end is not after start"},
		{"POST", "/api/rooms/room1/clips", clip + `"start_offset": 0, "end_offset": 70}`, 400, "longer than the maximum 1m0s"},
		{"POST", "/api/rooms/room1/clips", clip + `"start": "2026-12-05T19:59:55Z", "end": "2026-12-05T20:00:10Z"}`, 400, "outside the recording"},
		{"POST", "/api/rooms/room1/clips", clip + `"start_offset": 70, "end_offset": 95}`, 400, "outside the recording"},
		{"POST", "/api/rooms/room1/clips", `{"recording": "../x", "last": 5}`, 400, "malformed recording id"},
		{"POST", "/api/rooms/other/clips", clip + `"last": 5}`, 404, "no recording"},
		{"GET", "/api/clips/c0123456789abcdef", "", 404, "unknown clip"},
		{"GET", "/api/clips/..%2Fetc", "", 400, "malformed clip id"},
		{"DELETE", "/api/clips/c0123456789abcdef", "", 404, "unknown clip"},
		{"GET", "/dvr/clips/c0123456789abcdef.mp4", "", 404, "unknown clip"},
		{"GET", "/dvr/clips/c0123456789abcdef/index.m3u8", "", 404, "unknown clip"},
		{"GET", "/dvr/clips/x.mp4", "", 400, "malformed clip id"},
	}
	for _, c := range cases {
		code, reason := do(t, f, c.method, c.path, c.body)
		if code != c.code || !strings.Contains(reason, c.reason) || strings.Contains(reason, "\n") {
			t.Errorf("%s %s %s: %d %q, want %d %q", c.method, c.path, c.body, code, reason, c.code, c.reason)
		}
	}
}

// TestRecordingsAPI lists, shows and deletes recordings.
func TestRecordingsAPI(t *testing.T) {
	f := newFixture(t)
	body, _ := get(t, f.srv.URL+"/api/recordings?room=room1", http.StatusOK)
	var list []recordingJSON
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != f.live.id || !list[0].Live || list[1].ID != f.ended.id || list[1].Live {
		t.Fatalf("recordings %s", body)
	}
	ended := list[1]
	if ended.Bytes <= 0 || ended.Duration < 79 || ended.Duration > 91 || strings.Join(ended.Renditions, ",") != "a,hi,lo" ||
		ended.Playlist != "/dvr/recordings/"+f.ended.id+"/index.m3u8" || ended.End.IsZero() {
		t.Errorf("ended recording %+v", ended)
	}
	one, _ := get(t, f.srv.URL+"/api/recordings/"+f.ended.id, http.StatusOK)
	if !strings.Contains(one, `"id":"`+f.ended.id+`"`) {
		t.Errorf("recording %s", one)
	}
	if code, reason := do(t, f, "DELETE", "/api/recordings/"+f.ended.id, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, reason)
	}
	get(t, f.srv.URL+"/api/recordings/"+f.ended.id, http.StatusNotFound)
	body, _ = get(t, f.srv.URL+"/api/recordings", http.StatusOK)
	if strings.Contains(body, f.ended.id) {
		t.Errorf("deleted recording still listed: %s", body)
	}
}

// TestDeleteWhileReading deletes a recording while its clip and its VOD are being read:
// every read of a segment listed before the delete still succeeds (the clip's Hold, the
// readers' grace), and once the clip is dropped and the grace passes the bytes go.
func TestDeleteWhileReading(t *testing.T) {
	f := newFixture(t)
	f.h.readers.grace = 3 * time.Second // longer than the reads below take
	st := postClip(t, f, `{"recording": "`+f.ended.id+`", "start_offset": 10, "end_offset": 40}`, http.StatusCreated)
	clipBase := strings.TrimSuffix(st.Playlist, "index.m3u8")
	clipPL := parsePlaylist(t, mustGetPlaylist(t, f, clipBase+"hi.m3u8"))
	vodBase := "/dvr/recordings/" + f.ended.id + "/"
	vodPL := parsePlaylist(t, mustGetPlaylist(t, f, vodBase+"hi.m3u8"))
	var wg sync.WaitGroup
	read := func(base string, p parsedPlaylist) {
		defer wg.Done()
		for range 3 {
			for _, s := range p.segments {
				for _, uri := range []string{s.mapURI, s.uri} {
					if code, reason := do(t, f, "GET", base+uri, ""); code != http.StatusOK {
						t.Errorf("GET %s during a delete: %d %s", base+uri, code, reason)
						return
					}
				}
			}
		}
	}
	wg.Add(2)
	go read(clipBase, clipPL)
	go read(vodBase, vodPL)
	if code, reason := do(t, f, "DELETE", "/api/recordings/"+f.ended.id, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, reason)
	}
	wg.Wait()
	waitClip(t, f, st.ID) // the MP4 was cut from held bytes too
	if code, reason := do(t, f, "DELETE", "/api/clips/"+st.ID, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE clip: %d %s", code, reason)
	}
	waitGone(t, onDisk, filepath.Join(f.dir, "dvr", "room1", f.ended.id)) // the clip was dropped and the grace passed
	if code, _ := do(t, f, "GET", vodBase+vodPL.segments[0].uri, ""); code != http.StatusNotFound {
		t.Errorf("a segment of the deleted recording answers %d after the grace", code)
	}
}
