package dvr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// probed is what ffprobe reports of a URL.
type probed struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// ffprobe decodes up to the first seconds of url (every frame: -count_frames) and fails
// the test unless it holds decodable video and audio.
func ffprobe(t *testing.T, url string, seconds int) probed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-live_start_index", "0", "-read_intervals", fmt.Sprintf("%%+%d", seconds),
		"-count_frames", "-show_entries", "stream=codec_type,nb_read_frames:format=duration", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	kinds := map[string]bool{}
	for _, s := range p.Streams {
		if n, _ := strconv.Atoi(s.NbReadFrames); n > 0 {
			kinds[s.CodecType] = true
		}
	}
	if !kinds["video"] || !kinds["audio"] {
		t.Fatalf("ffprobe %s decoded no video or no audio: %s", url, out)
	}
	return p
}

// postClip makes a clip of room1 and returns its answer.
func postClip(t *testing.T, f *dvrFixture, body string, want int) clipState {
	t.Helper()
	resp, err := http.Post(f.srv.URL+"/api/rooms/room1/clips", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st clipState
	if resp.StatusCode != want {
		reason, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST clip %s: %d %s, want %d", body, resp.StatusCode, reason, want)
	}
	if want == http.StatusCreated {
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
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
		t.Run(path, func(t *testing.T) { ffprobe(t, f.srv.URL+path, 6) })
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
			// The playlist covers the range with whole segments: a GOP at most on each side.
			if got := time.Duration(p.duration() * float64(time.Second)); got < c.want-100*time.Millisecond || got > c.want+4*time.Second {
				t.Errorf("clip playlist lasts %v, want %v to %v", got, c.want, c.want+4*time.Second)
			}
			done := waitClip(t, f, st.ID)
			probe := ffprobe(t, f.srv.URL+done.MP4, 1000)
			secs, _ := strconv.ParseFloat(probe.Format.Duration, 64)
			if got := time.Duration(secs * float64(time.Second)); (got - c.want).Abs() > 2*time.Second {
				t.Errorf("clip MP4 lasts %v, want %v within a GOP", got, c.want)
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
