package hls

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// TestEndToEnd serves real H.264 and AAC, written at real-time pace, over HTTP on
// loopback, and has real clients read it: ffprobe decodes every rendition, ffmpeg -xerror
// decodes the whole multivariant stream, and npm hls-parser (strict mode) checks every
// playlist, blocking reloads and a delta update. It fails, not skips, without the tools.
func TestEndToEnd(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe", "node"} {
		testkit.RequireTool(t, tool)
	}
	scripts := nodeScripts(t)
	m := loadMedia(t)
	cfg := testCfg
	cfg.Window = 10 // long enough for delta updates to skip segments
	s := NewStream("live", cfg, testLogger())
	f := newFeeder(t, m, s, "hi", "lo", AudioRendition)
	sv := NewServer(testLogger())
	sv.Add("live", s)
	srv := httptest.NewServer(sv)
	defer srv.Close()
	defer s.Close()

	ctx, cancel := context.WithCancel(context.Background())
	fed := make(chan error, 1)
	go func() { fed <- f.feedRealTime(ctx, 60*time.Second) }()
	defer func() {
		cancel()
		if err := <-fed; err != nil {
			t.Error(err)
		}
	}()
	base := srv.URL + "/hls/live/"
	f.waitMedia(t, 4*time.Second)

	var wg sync.WaitGroup
	check := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	for _, r := range []string{"hi", "lo", AudioRendition} {
		check("ffprobe "+r, func() error { return probe(t, base+r+"/index.m3u8", r) })
	}
	check("ffmpeg -xerror", func() error {
		out, err := testkit.Command(context.Background(), time.Minute, "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-xerror",
			"-i", base+"index.m3u8", "-map", "0", "-t", "6", "-f", "null", "-")
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	for _, url := range []string{base + "index.m3u8", base + "lo/index.m3u8", base + "a/index.m3u8"} {
		check("llhls-check "+url, func() error {
			res, err := nodeResult(filepath.Join(scripts, "llhls-check.mjs"), url, "--seconds=6")
			t.Logf("llhls-check %s: %v", url, res)
			return err
		})
	}
	wg.Wait()
	// Strict parse of what the checker does not ask for: delta updates and the other
	// blocking responses, after enough media for EXT-X-SKIP to skip something.
	f.waitMedia(t, 17*time.Second)
	var urls []string
	for _, r := range []string{"hi", "lo", AudioRendition} {
		urls = append(urls, base+r+"/index.m3u8?_HLS_skip=YES", base+r+"/index.m3u8?_HLS_skip=v2")
	}
	res, err := nodeResult(filepath.Join(scripts, "parse-strict.mjs"), urls...)
	if err != nil {
		t.Fatalf("hls-parser strict: %v", err)
	}
	for _, p := range res["parsed"].([]any) {
		if p := p.(map[string]any); p["skip"].(float64) < 1 {
			t.Errorf("delta update skipped nothing: %v", p)
		}
	}
}

// waitMedia waits until the feeder has written media up to d.
func (f *feeder) waitMedia(t *testing.T, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d + 10*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if written := f.tracks[0].mediaWritten(); written >= d {
			return
		}
	}
	t.Fatalf("feeder did not reach %v of media", d)
}

// mediaWritten returns how much media a track has packaged into parts.
func (t *Track) mediaWritten() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ticks uint64
	for _, seg := range t.segs {
		ticks += seg.ticks
	}
	if t.cur != nil {
		ticks += t.cur.ticks
	}
	return ticksDur(ticks, t.timescale)
}

// probe has ffprobe decode four seconds of a media playlist and checks what it found.
func probe(t *testing.T, url, rendition string) error {
	st, err := testkit.ProbeStream(context.Background(), url, 4*time.Second)
	if err != nil {
		return err
	}
	want := map[string]string{"hi": "h264 320x240", "lo": "h264 160x120", AudioRendition: "aac 2ch 48000"}[rendition]
	if got := st.String(); got != want || st.Frames < 100 {
		return fmt.Errorf("ffprobe: %s, %d frames decoded; want %s, at least 100", got, st.Frames, want)
	}
	t.Logf("ffprobe %s: %s, %d frames decoded", rendition, st, st.Frames)
	return nil
}

// nodeScripts returns a directory holding the testdata scripts next to a node_modules
// link to e2e/node_modules, where package.json pins hls-parser.
func nodeScripts(t *testing.T) string {
	t.Helper()
	modules, err := filepath.Abs(filepath.Join("..", "e2e", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "hls-parser", "package.json")); err != nil {
		t.Fatalf("hls-parser missing: run npm ci in e2e/ (scripts/install-deps.sh does): %v", err)
	}
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"llhls-check.mjs", "parse-strict.mjs"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// nodeResult runs a script that prints {"result":{"ok":...}} last and returns the result.
func nodeResult(script string, args ...string) (map[string]any, error) {
	out, err := testkit.Command(context.Background(), time.Minute, "node", append([]string{script}, args...)...)
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var last struct {
		Result map[string]any `json:"result"`
	}
	if jerr := json.Unmarshal(lines[len(lines)-1], &last); jerr != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	if err != nil || last.Result["ok"] != true {
		return last.Result, fmt.Errorf("%v: %v", err, last.Result)
	}
	return last.Result, nil
}
