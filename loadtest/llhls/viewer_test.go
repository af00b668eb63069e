package llhls

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
)

// TestViewerFollowsLiveStream runs a viewer against an in-process origin (hls.Server on
// loopback) that is not live yet when the viewer starts; then a stream is fed in real time
// with frames that carry capture-time SEIs (two of three) and known capture times, goes
// through a discontinuity with a new resolution (new init segment) and ends. The viewer
// must join at a keyframe, report every frame from there on in order (but those of a part
// that answers 404) with the capture time of its SEI, or from EXT-X-PROGRAM-DATE-TIME
// within 2 ms, and return nil at EXT-X-ENDLIST.
func TestViewerFollowsLiveStream(t *testing.T) {
	cases := []struct {
		name string
		o    *origin
	}{
		{"every part", &origin{}},
		{"a part answers 404", &origin{dropNth: 8}},
		{"no blocking reloads, no preload hints", &origin{noBlock: true, noHints: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testViewer(t, tc.o)
		})
	}
}

func testViewer(t *testing.T, o *origin) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log := testLogger(t)
	o.hls, o.parts, o.initURIs = hls.NewServer(log), map[string]bool{}, map[string]bool{}
	srv := httptest.NewServer(o)
	defer srv.Close()
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()

	var mu sync.Mutex
	var frames []Frame
	var joins []time.Time
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, Config{URL: srv.URL + "/hls/room/index.m3u8", HTTPClient: client, Logger: log,
			OnJoin: func(at time.Time) {
				mu.Lock()
				defer mu.Unlock()
				if len(frames) > 0 {
					t.Errorf("OnJoin after %d frames", len(frames))
				}
				joins = append(joins, at)
			},
			OnFrame: func(f Frame) {
				mu.Lock()
				defer mu.Unlock()
				frames = append(frames, f)
			}})
	}()
	time.Sleep(500 * time.Millisecond) // the viewer meets 404s: the room is not live yet

	s := hls.NewStream("room", hls.Config{SegmentDuration: time.Second, PartDuration: 200 * time.Millisecond}, log)
	tr, err := s.AddVideo("v", hls.VideoTrackInfo{FPS: testFPS, BitrateKbps: 500})
	if err != nil {
		t.Fatal(err)
	}
	o.hls.Add("room", s)
	wrote := feed(ctx, t, tr, 4*testFPS, true)
	s.Close()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return after EXT-X-ENDLIST")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(joins) != 1 {
		t.Fatalf("OnJoin called %d times, want once", len(joins))
	}
	got := matchFrames(t, wrote, frames)
	if len(got) == 0 {
		t.Fatal("no frames")
	}
	if !wrote[got[0]].keyframe || !frames[0].Keyframe {
		t.Errorf("first frame %d is not a keyframe", got[0])
	}
	if got[len(got)-1] != len(wrote)-1 {
		t.Errorf("last frame reported is %d of %d", got[len(got)-1], len(wrote))
	}
	var gaps []string
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			gaps = append(gaps, fmt.Sprintf("%d→%d", got[i-1], got[i]))
		}
	}
	wantGaps := 0
	if o.dropNth > 0 {
		wantGaps = 1
	}
	if len(gaps) != wantGaps {
		t.Errorf("gaps in the frames reported: %v, want %d (frames from %d to %d of %d)", gaps, wantGaps, got[0],
			got[len(got)-1], len(wrote))
	}
	if len(o.initURIs) < 2 {
		t.Errorf("init segments fetched: %v, want the one after the discontinuity too", o.initURIs)
	}
	t.Logf("%d of %d frames reported from frame %d, gaps %v, init segments %v", len(got), len(wrote), got[0], gaps, o.initURIs)
}

// matchFrames finds which written frame each reported frame is (by capture time) and
// checks its fields; it returns the indexes in the order reported.
func matchFrames(t *testing.T, wrote []sent, frames []Frame) []int {
	t.Helper()
	var out []int
	errs := 0
	fail := func(format string, args ...any) {
		if errs++; errs <= 10 {
			t.Errorf(format, args...)
		}
	}
	j := 0
	for i, f := range frames {
		if !f.HasCapture {
			fail("frame %d: no capture time", i)
			continue
		}
		for j < len(wrote) && wrote[j].captured.Before(f.Captured.Add(-3*time.Millisecond)) {
			j++
		}
		if j == len(wrote) || wrote[j].captured.Sub(f.Captured).Abs() > 2*time.Millisecond {
			fail("frame %d: captured %v matches no frame written (out of order?)", i, f.Captured.Format("15:04:05.000000"))
			continue
		}
		w := wrote[j]
		if w.hasSEI && !w.captured.Equal(f.Captured) {
			fail("frame %d (written %d): captured %v, want its SEI's %v", i, j, f.Captured, w.captured)
		}
		if f.Bytes != w.size || f.Keyframe != w.keyframe {
			fail("frame %d (written %d): %d bytes keyframe %v, want %d bytes keyframe %v", i, j, f.Bytes, f.Keyframe,
				w.size, w.keyframe)
		}
		if f.Arrived.Before(w.captured) {
			fail("frame %d arrived before it was captured", i)
		}
		out = append(out, j)
		j++
	}
	return out
}

// TestRunStartErrors: what cannot be played fails at once with a one-line error.
func TestRunStartErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "<html>not a playlist</html>")
	}))
	defer srv.Close()
	cases := []struct{ name, url, want string }{
		{"malformed URL", "http://[::1", "bad URL"},
		{"not HTTP", "ftp://127.0.0.1/x.m3u8", "bad URL"},
		{"no host", "/hls/room/index.m3u8", "bad URL"},
		{"not HLS", srv.URL + "/index.m3u8", "not an HLS playlist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := Run(ctx, Config{URL: tc.url, Logger: testLogger(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Run: %v, want an error with %q", err, tc.want)
			}
			if ctx.Err() != nil {
				t.Fatal("Run retried until the deadline")
			}
		})
	}
}

// TestRunWaitsForTheRoom: a room that never goes live is retried until ctx ends, which is
// not an error.
func TestRunWaitsForTheRoom(t *testing.T) {
	srv := httptest.NewServer(hls.NewServer(testLogger(t)))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := Run(ctx, Config{URL: srv.URL + "/hls/nobody/index.m3u8", Logger: testLogger(t)}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}
