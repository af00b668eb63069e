package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// dvrPageState is one sample of window.glintWatch with the DVR controls' state
// (web/static/dvr.js); dates are ms since the epoch.
type dvrPageState struct {
	hlsPageState
	DVR struct {
		Source      string   `json:"source"` // live, dvr, startover or recording
		URL         string   `json:"url"`
		Now         float64  `json:"now"`
		PlayingDate *float64 `json:"playingDate"`
		BehindS     *float64 `json:"behindS"`
		WindowStart *float64 `json:"windowStart"`
		WindowEnd   *float64 `json:"windowEnd"`
		Paused      bool     `json:"paused"`
		PausedAt    *float64 `json:"pausedAt"`
		Recordings  []struct {
			ID       string `json:"id"`
			Playlist string `json:"playlist"`
		} `json:"recordings"`
		Clip  *dvrClip `json:"clip"`
		Error string   `json:"error"`
	} `json:"dvr"`
}

// dvrClip is GET /api/clips/{id} (docs/dvr.md) as the page keeps it.
type dvrClip struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	Playlist string  `json:"playlist"`
	MP4      string  `json:"mp4"`
	Duration float64 `json:"duration"`
	Error    string  `json:"error"`
}

// dvrRecording is one entry of GET /api/recordings.
type dvrRecording struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	Live     bool      `json:"live"`
	Duration float64   `json:"duration"`
	Playlist string    `json:"playlist"`
}

func (b *browser) waitDVR(timeout time.Duration, what string, cond func(dvrPageState) bool) dvrPageState {
	b.t.Helper()
	return waitPageSample(b, timeout, what, cond)
}

// playing: the sample plays (not paused) and knows the date of the frame on screen.
func (s dvrPageState) playing() bool {
	return s.Mode == "hls" && !s.DVR.Paused && s.DVR.PlayingDate != nil && s.DVR.BehindS != nil && s.HLS.CurrentTime > 0
}

const (
	dvrSeekBack = 60.0 // seconds, the seek back
	dvrSeekSlop = 5.0  // how far from it the played wall-clock time may be
	dvrClipLast = 30.0 // the clip button's default N
	dvrGOP      = 1.0  // glint demo's keyframe interval (demo/ffmpeg.go: -g fps)
)

// TestDVRWatchPage: a demo publisher into `glint serve` with LL-HLS (1 s segments) and the
// DVR. Once the room has ~70 s recorded, Chromium's /watch/{room}?mode=hls plays the LL-HLS
// live edge, then, through the page's DVR controls as a user would use them:
//   - drags the seek bar 60 s back: hls.js plays the DVR playlist with the frame on screen
//     60 s (±5 s) behind the wall clock (EXT-X-PROGRAM-DATE-TIME), and frames advance; 10 s
//     further back moves the playhead in the same playlist;
//   - pauses 6 s and resumes where it paused (the date on screen did not move, then moves on);
//   - presses Live: back on /hls/ with hls.latency under llhlsLatency (2.5 s);
//   - pauses 6 s at the live edge: it resumes where it paused, from the DVR playlist; Live;
//   - presses Start over: plays from the recording's first segment;
//   - presses Clip: the last 30 s become a clip whose MP4 ffprobe decodes, 30 s long within
//     one GOP (plus half a second of slack for the frame and audio edges);
//   - the page lists the room's recording;
//   - a second page plays the recording at ?recording=ID&t=(start + 10 s) from that time.
//
// The 60 s seek needs 70 s of recording, so the test lasts about two minutes; the browser
// starts while the recording grows, to keep it at that.
func TestDVRWatchPage(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	requireHLSPlayer(t)
	testkit.RequireTool(t, "ffprobe")
	srv := startServer(t, "--hls=true", "--hls-segment", "1s")
	room := "dvr"
	begin := time.Now()
	demo := testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/"+room),
		"--size", "426x240", "--loopback")
	srv.waitRoom(t, room, 30*time.Second, "live with video", func(r roomInfo) bool {
		_, ok := r.track("video")
		return r.Live && ok
	})
	waitRecorded(t, srv, room, dvrSeekBack-10)
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 240, "--query=mode=hls")
	live := view.waitDVR(90*time.Second, "LL-HLS at the live edge with the DVR window known", func(s dvrPageState) bool {
		return s.DVR.Source == "live" && s.DVR.WindowStart != nil && s.playing() && underLLHLSLatency(s.hlsPageState)
	})
	rec := waitRecorded(t, srv, room, dvrSeekBack+10)
	t.Logf("%.1fs: live at t=%d (%s); recording %s has %.0f s", since(begin), live.T, live.describeHLS(), rec.ID, rec.Duration)

	sought := seekBack(t, view)
	resumed := pauseResume(t, view, sought, "dvr")
	back := goLive(t, view, resumed)
	t.Logf("%.1fs: Live at t=%d: %s", since(begin), back.T, back.describeHLS())
	// A pause at the live edge outlives the LL-HLS window's use: it resumes from the DVR.
	resumed = pauseResume(t, view, back, "dvr")
	back = goLive(t, view, resumed)

	startOver(t, view, back, rec)
	clip := clipLast(t, view)
	checkClipMP4(t, srv, clip)

	last := view.waitDVR(30*time.Second, "the recording listed", func(s dvrPageState) bool {
		for _, r := range s.DVR.Recordings {
			if r.ID == rec.ID && r.Playlist == "/dvr/recordings/"+rec.ID+"/index.m3u8" {
				return true
			}
		}
		return false
	})
	t.Logf("%.1fs: the page lists %d recording(s) at t=%d", since(begin), len(last.DVR.Recordings), last.T)
	if res := view.finish(); !res.OK {
		t.Fatalf("viewer: %s", res.Failure)
	}
	catchUp(t, srv, room, rec)
	if err := demo.Stop(15 * time.Second); err != nil {
		t.Errorf("glint demo after SIGTERM: %v (want exit status 0)", err)
	}
}

// seekBack drags the seek bar 60 s back and checks that the DVR playlist plays 60 s behind.
func seekBack(t *testing.T, view *browser) dvrPageState {
	t.Helper()
	view.Send("seek-back " + strconv.Itoa(int(dvrSeekBack)))
	near := func(s dvrPageState) bool { return math.Abs(*s.DVR.BehindS-dvrSeekBack) <= dvrSeekSlop }
	// The first samples after the switch may still show the live edge's last frame: the
	// DVR's frames are those well behind it.
	sought := view.waitDVR(45*time.Second, "the DVR playlist playing well behind live", func(s dvrPageState) bool {
		return s.DVR.Source == "dvr" && s.playing() && s.Video.FramesDecoded > 0 && *s.DVR.BehindS > dvrSeekBack/2
	})
	later := view.waitDVR(30*time.Second, "frames advancing 3 s further", func(s dvrPageState) bool {
		return s.T > sought.T && s.DVR.Source == "dvr" && s.playing() && *s.DVR.PlayingDate >= *sought.DVR.PlayingDate+3000 &&
			s.Video.FramesDecoded > sought.Video.FramesDecoded
	})
	if !near(sought) || !near(later) {
		t.Errorf("seek back %.0f s: %.1f s behind the wall clock at t=%d, %.1f s at t=%d; want %.0f ± %.0f s",
			dvrSeekBack, *sought.DVR.BehindS, sought.T, *later.DVR.BehindS, later.T, dvrSeekBack, dvrSeekSlop)
	}
	if !strings.Contains(later.DVR.URL, "/dvr/dvr/index.m3u8?t=") {
		t.Errorf("playing %s: want the DVR window at ?t=", later.DVR.URL)
	}
	t.Logf("seek back: %.1f s behind at t=%d, %.1f s at t=%d (frames %d -> %d), %s", *sought.DVR.BehindS, sought.T,
		*later.DVR.BehindS, later.T, sought.Video.FramesDecoded, later.Video.FramesDecoded, later.DVR.URL)

	// Inside the DVR playlist a seek only moves the playhead (same source URL).
	view.Send("seek-back 10")
	further := view.waitDVR(30*time.Second, "10 s further back in the same playlist", func(s dvrPageState) bool {
		return s.T > later.T && s.playing() && *s.DVR.BehindS > *later.DVR.BehindS+5 &&
			*s.DVR.PlayingDate > 0 && s.DVR.URL == later.DVR.URL
	})
	moved := view.waitDVR(20*time.Second, "playing on there", func(s dvrPageState) bool {
		return s.T > further.T && s.playing() && *s.DVR.PlayingDate >= *further.DVR.PlayingDate+2000
	})
	if want := *later.DVR.BehindS + 10; math.Abs(*moved.DVR.BehindS-want) > 2 {
		t.Errorf("a second seek back of 10 s: %.1f s behind at t=%d; want %.1f ± 2 s", *moved.DVR.BehindS, moved.T, want)
	}
	t.Logf("seek back 10 s more: %.1f s behind at t=%d", *moved.DVR.BehindS, moved.T)
	return moved
}

// goLive presses Live and waits for the LL-HLS live edge under llhlsLatency.
func goLive(t *testing.T, view *browser, from dvrPageState) dvrPageState {
	t.Helper()
	view.Send("click dvr-live")
	return view.waitDVR(60*time.Second, fmt.Sprintf("back on /hls/ under %.1f s", llhlsLatency), func(s dvrPageState) bool {
		return s.T > from.T && s.DVR.Source == "live" && s.playing() && underLLHLSLatency(s.hlsPageState) &&
			strings.Contains(s.DVR.URL, "/hls/")
	})
}

// catchUp opens the recording in a second page at ?recording=ID&t=(its start + 10 s) and
// checks that it plays from that wall-clock time.
func catchUp(t *testing.T, srv *server, room string, rec dvrRecording) {
	t.Helper()
	at := rec.Start.Add(10 * time.Second)
	query := "--query=mode=hls&recording=" + rec.ID + "&t=" + at.UTC().Format(time.RFC3339Nano)
	view := startBrowser(t, "watch", srv.url("/watch/"+room), 60, query)
	first := view.waitDVR(45*time.Second, "the recording playing", func(s dvrPageState) bool {
		return s.DVR.Source == "recording" && s.playing() && s.Video.FramesDecoded > 0
	})
	later := view.waitDVR(20*time.Second, "frames advancing", func(s dvrPageState) bool {
		return s.T > first.T && s.playing() && *s.DVR.PlayingDate >= *first.DVR.PlayingDate+2000
	})
	off := (*first.DVR.PlayingDate - float64(at.UnixMilli())) / 1000
	if off < -1 || off > 4 || !strings.Contains(first.DVR.URL, "/dvr/recordings/"+rec.ID+"/index.m3u8?t=") {
		t.Errorf("catch-up at %s: playing %s, %.1f s from that time at t=%d; want it within a few seconds",
			at.Format(time.RFC3339), first.DVR.URL, off, first.T)
	}
	t.Logf("catch-up: %.1f s from the time asked at t=%d, on at t=%d", off, first.T, later.T)
	if res := view.finish(); !res.OK {
		t.Fatalf("recording viewer: %s", res.Failure)
	}
}

// pauseResume pauses for 6 s and checks that playback resumes where it paused, from the
// source want.
func pauseResume(t *testing.T, view *browser, from dvrPageState, want string) dvrPageState {
	t.Helper()
	view.Send("click dvr-pause")
	paused := view.waitDVR(15*time.Second, "paused", func(s dvrPageState) bool {
		return s.T > from.T && s.DVR.Paused && s.DVR.PausedAt != nil && s.DVR.PlayingDate != nil
	})
	still := view.waitDVR(20*time.Second, "6 s of pause", func(s dvrPageState) bool { return s.T >= paused.T+6 })
	if !still.DVR.Paused || still.DVR.PlayingDate == nil || math.Abs(*still.DVR.PlayingDate-*paused.DVR.PlayingDate) > 100 {
		t.Errorf("paused at t=%d on %v, at t=%d: paused %v on %v; want the same frame", paused.T,
			*paused.DVR.PlayingDate, still.T, still.DVR.Paused, still.DVR.PlayingDate)
	}
	view.Send("click dvr-pause")
	// Resumed: past the paused frame and, having paused 6 s, at least 4 s further behind.
	resumed := view.waitDVR(30*time.Second, "resumed, frames advancing", func(s dvrPageState) bool {
		return s.T > still.T && s.DVR.Source == want && s.playing() && *s.DVR.PlayingDate > *paused.DVR.PlayingDate+1000 &&
			*s.DVR.BehindS >= *from.DVR.BehindS+4
	})
	ahead := (*resumed.DVR.PlayingDate - *paused.DVR.PlayingDate) / 1000
	if ahead > float64(resumed.T-still.T)+2 {
		t.Errorf("resumed at t=%d %.1f s after the paused frame, %.1f s behind (%.1f s before the pause): want where it paused",
			resumed.T, ahead, *resumed.DVR.BehindS, *from.DVR.BehindS)
	}
	t.Logf("pause: t=%d..%d, resumed at t=%d %.1f s past the paused frame, now %.1f s behind", paused.T, still.T, resumed.T,
		ahead, *resumed.DVR.BehindS)
	return resumed
}

// startOver presses Start over and checks that playback begins at the recording's start.
func startOver(t *testing.T, view *browser, from dvrPageState, rec dvrRecording) {
	t.Helper()
	view.Send("click dvr-start-over")
	// The page reports the new source at once, while the first samples after the switch may
	// still show the live edge's last frames: the start's frames are those nearer the
	// recording's start than the frame on screen before the click.
	start := float64(rec.Start.UnixMilli())
	first := view.waitDVR(45*time.Second, "playing from the start", func(s dvrPageState) bool {
		return s.T > from.T && s.DVR.Source == "startover" && s.playing() && s.Video.FramesDecoded > 0 &&
			*s.DVR.PlayingDate < start+(*from.DVR.PlayingDate-start)/2
	})
	later := view.waitDVR(30*time.Second, "frames advancing from the start", func(s dvrPageState) bool {
		return s.T > first.T && s.playing() && *s.DVR.PlayingDate >= *first.DVR.PlayingDate+2000
	})
	fromStart := (*first.DVR.PlayingDate - start) / 1000
	// The first sample comes within a few seconds of playback's start (hls.js begins at
	// EXT-X-START:TIME-OFFSET=0, the first segment).
	if fromStart < -1 || fromStart > 5 {
		t.Errorf("start over: the frame on screen at t=%d is %.1f s after the recording's start %s; want its first segment",
			first.T, fromStart, rec.Start.Format(time.RFC3339Nano))
	}
	if !strings.Contains(first.DVR.URL, "start=over") {
		t.Errorf("start over plays %s: want ?start=over", first.DVR.URL)
	}
	t.Logf("start over at t=%d: %.1f s into the recording, %.1f s at t=%d", first.T, fromStart,
		(*later.DVR.PlayingDate-start)/1000, later.T)
}

// clipLast presses Clip (the last 30 s) and waits for the clip's MP4.
func clipLast(t *testing.T, view *browser) dvrClip {
	t.Helper()
	view.Send("click dvr-clip")
	s := view.waitDVR(60*time.Second, "the clip done or failed", func(s dvrPageState) bool {
		return s.DVR.Clip != nil && (s.DVR.Clip.Status == "done" || s.DVR.Clip.Status == "failed")
	})
	c := *s.DVR.Clip
	if c.Status != "done" || c.MP4 == "" || c.Playlist == "" {
		t.Fatalf("clip %+v: want done with a playlist and an MP4", c)
	}
	return c
}

// checkClipMP4 downloads the clip's MP4 and has ffprobe decode it and read its duration.
func checkClipMP4(t *testing.T, srv *server, c dvrClip) {
	t.Helper()
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(srv.url(c.MP4))
	if err != nil {
		t.Fatalf("GET %s: %v", c.MP4, err)
	}
	defer func() { _ = resp.Body.Close() }()
	path := filepath.Join(t.TempDir(), "clip.mp4")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %d bytes, %v", c.MP4, resp.StatusCode, n, err)
	}
	ctx := context.Background()
	streams, err := testkit.ProbeStreams(ctx, path, 60*time.Second)
	if err != nil {
		t.Fatalf("the clip's MP4: %v", err)
	}
	out, err := testkit.Command(ctx, time.Minute, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path)
	if err != nil {
		t.Fatalf("ffprobe duration of the clip: %v: %s", err, out)
	}
	duration, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", out, err)
	}
	if duration < dvrClipLast-0.5 || duration > dvrClipLast+dvrGOP+0.5 {
		t.Errorf("clip MP4 of the last %.0f s lasts %.2f s; want %.0f s to %.1f s (one GOP more at most)",
			dvrClipLast, duration, dvrClipLast, dvrClipLast+dvrGOP)
	}
	video := false
	for _, s := range streams {
		video = video || (s.Width > 0 && s.Frames > 0)
	}
	if !video {
		t.Errorf("clip MP4 streams %v: want decoded video frames", streams)
	}
	t.Logf("clip %s: MP4 %d bytes, %.2f s, streams %v", c.ID, n, duration, streams)
}

// waitRecorded polls GET /api/recordings?room= until the room's live recording holds at
// least seconds, and returns it.
func waitRecorded(t *testing.T, srv *server, room string, seconds float64) dvrRecording {
	t.Helper()
	deadline := time.Now().Add(time.Duration(seconds+60) * time.Second)
	var last []dvrRecording
	for time.Now().Before(deadline) {
		resp, err := httpClient.Get(srv.url("/api/recordings?room=" + room))
		if err != nil {
			t.Fatalf("GET /api/recordings: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &last) != nil {
			t.Fatalf("GET /api/recordings?room=%s: %d %s", room, resp.StatusCode, body)
		}
		if len(last) > 0 && last[0].Live && last[0].Duration >= seconds {
			return last[0]
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("room %s: no live recording of %.0f s; GET /api/recordings: %+v", room, seconds, last)
	return dvrRecording{}
}
