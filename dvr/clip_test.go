package dvr

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// probeDecodes has ffprobe decode the first 4 s of url (a playlist starts 3 segments from
// the end of a live one: 6 s are there) and fails unless it holds decodable H.264 and AAC.
func probeDecodes(t *testing.T, url string) {
	t.Helper()
	streams, err := testkit.ProbeStreams(t.Context(), url, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	decoded := map[string]bool{}
	for _, s := range streams {
		decoded[s.Codec] = decoded[s.Codec] || s.Frames > 0
	}
	if !decoded["h264"] || !decoded["aac"] {
		t.Fatalf("ffprobe %s decoded %v, want h264 and aac frames", url, streams)
	}
}

// probeDuration returns the duration ffprobe reads from a file's header.
func probeDuration(t *testing.T, url string) time.Duration {
	t.Helper()
	out, err := testkit.Command(t.Context(), time.Minute, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url)
	secs, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || perr != nil {
		t.Fatalf("ffprobe %s: %v %v: %s", url, err, perr, out)
	}
	return time.Duration(secs * float64(time.Second))
}

// postClip makes a clip of room1 and returns its answer.
func postClip(t *testing.T, f *dvrFixture, body string, want int) clipState {
	t.Helper()
	code, answer := do(t, f, http.MethodPost, "/api/rooms/room1/clips", body)
	if code != want {
		t.Fatalf("POST clip %s: %d %s, want %d", body, code, answer, want)
	}
	var st clipState
	if want == http.StatusCreated {
		if err := json.Unmarshal([]byte(answer), &st); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// waitClip polls the clip's status until its MP4 is done.
func waitClip(t *testing.T, f *dvrFixture, id string) clipState {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		body, _ := get(t, f.srv.URL+"/api/clips/"+id, http.StatusOK)
		var st clipState
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		switch {
		case st.Status == clipDone:
			return st
		case st.Status == clipFailed:
			t.Fatalf("clip %s failed: %s", id, st.Error)
		case time.Now().After(deadline):
			t.Fatalf("clip %s still %s", id, st.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFFprobeDecodesPlaylists: ffprobe decodes the window, start-over, catch-up, VOD and
// clip playlists served over HTTP.
func TestFFprobeDecodesPlaylists(t *testing.T) {
	f := newFixture(t)
	clip := postClip(t, f, `{"recording": "`+f.ended.id+`", "start": "2026-12-05T20:00:55Z", "end": "2026-12-05T20:01:15Z"}`, http.StatusCreated)
	for _, path := range []string{
		"/dvr/room1/index.m3u8",
		"/dvr/room1/index.m3u8?start=over",
		"/dvr/room1/index.m3u8?t=2026-12-05T21:00:30Z",
		"/dvr/recordings/" + f.ended.id + "/index.m3u8",
		"/dvr/recordings/" + f.ended.id + "/index.m3u8?t=2026-12-05T20:00:40Z",
		clip.Playlist,
	} {
		t.Run(path, func(t *testing.T) { probeDecodes(t, f.srv.URL+path) })
	}
}

// TestClipMP4 makes clips in each form and checks that the MP4 (video and audio) lasts
// what was asked within one GOP (2 s), and that its playlist is a VOD of the range.
func TestClipMP4(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, body string
		want       time.Duration
	}{
		{"wall clock", `{"start": "2026-12-05T21:00:05Z", "end": "2026-12-05T21:00:35Z"}`, 30 * time.Second},
		{"offsets", `{"start_offset": 4.5, "end_offset": 16.5}`, 12 * time.Second},
		{"last", `{"last": 10}`, 10 * time.Second},
		{"over the reconnect", `{"recording": "` + f.ended.id + `", "start_offset": 50, "end_offset": 80}`, 20 * time.Second},
		{"accurate", `{"start": "2026-12-05T21:00:05.5Z", "end": "2026-12-05T21:00:17.25Z", "accurate": true}`, 11750 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := postClip(t, f, c.body, http.StatusCreated)
			if st.Status != clipPending && st.Status != clipRunning && st.Status != clipDone || !strings.HasSuffix(st.MP4, ".mp4") {
				t.Fatalf("clip answer %+v", st)
			}
			p := parsePlaylist(t, mustGetPlaylist(t, f, strings.TrimSuffix(st.Playlist, "index.m3u8")+"hi.m3u8"))
			if !p.endList || p.tag("#EXT-X-PLAYLIST-TYPE") != "VOD" {
				t.Errorf("clip playlist is not a VOD:\n%s", p.text)
			}
			// EXT-X-START at the start asked: 21:00:05 is 1 s into the segment of 21:00:04.
			if !p.hasStart || p.startTime < 0 || p.startTime >= 2 || c.name == "wall clock" && p.startTime != 1 {
				t.Errorf("clip playlist EXT-X-START %v %.3f, want within its first segment", p.hasStart, p.startTime)
			}
			// The playlist covers the range with whole segments: a GOP at most on each side.
			if got := time.Duration(p.duration() * float64(time.Second)); got < c.want-100*time.Millisecond || got > c.want+4*time.Second {
				t.Errorf("clip playlist lasts %v, want %v to %v", got, c.want, c.want+4*time.Second)
			}
			done := waitClip(t, f, st.ID)
			probeDecodes(t, f.srv.URL+done.MP4)
			tolerance := 2 * time.Second // a GOP
			if strings.Contains(c.body, "accurate") {
				tolerance = time.Second/sourceFPS + 25*time.Millisecond // a video frame (and an AAC frame)
			}
			if got := probeDuration(t, f.srv.URL+done.MP4); (got - c.want).Abs() > tolerance {
				t.Errorf("clip MP4 lasts %v, want %v within %v", got, c.want, tolerance)
			}
			if done.Bytes <= 0 || done.Progress != 1 {
				t.Errorf("clip state %+v", done)
			}
		})
	}
}

func mustGetPlaylist(t *testing.T, f *dvrFixture, path string) string {
	t.Helper()
	body, _ := get(t, f.srv.URL+path, http.StatusOK)
	return body
}

// TestDeleteClipWhileMuxing: deleting clips whose MP4s are pending or being written stops
// the work and leaves no file behind; the clip is gone.
func TestDeleteClipWhileMuxing(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for range 3 {
		ids = append(ids, postClip(t, f, `{"last": 30}`, http.StatusCreated).ID)
	}
	for _, id := range ids {
		if code, reason := do(t, f, "DELETE", "/api/clips/"+id, ""); code != http.StatusNoContent {
			t.Fatalf("DELETE clip %s: %d %s", id, code, reason)
		}
		get(t, f.srv.URL+"/api/clips/"+id, http.StatusNotFound)
	}
	entries, err := os.ReadDir(f.h.opts.ClipDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%d files left in the clip directory, first %s", len(entries), entries[0].Name())
	}
}
