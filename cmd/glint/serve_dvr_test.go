package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/dvr"
	"github.com/glint-video/glint/dvr/s3test"
	"github.com/glint-video/glint/internal/testkit"
)

// glintBinary returns $GLINT_BIN, or a glint built into the test's temp dir.
func glintBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("GLINT_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "glint")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// dvrServe starts `glint serve` with RTMP ingest, LL-HLS (1 s segments; the source and a
// 240p rung) and the DVR on dataDir; it returns the process, the RTMP URL of room1 and the
// HTTP base URL.
func dvrServe(t *testing.T, bin, dataDir string) (*testkit.Proc, string, string) {
	t.Helper()
	rtmp, web := freeTCPAddr(t), freeTCPAddr(t)
	p := testkit.StartProc(t, testkit.ProcOptions{Name: "glint serve"}, bin, "serve",
		"--http-addr", web, "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
		"--rtmp-addr", rtmp, "--srt-addr=", "--hls-segment", "1s", "--hls-part", "250ms",
		"--hls-ladder", "source,240p:300", "--data-dir", dataDir, "--log-level", "info")
	return p, "rtmp://" + rtmp + "/live/room1", "http://" + web
}

// publish starts ffmpeg publishing a 640x360 test pattern with AAC to url.
func publish(t *testing.T, url string) *testkit.Proc {
	t.Helper()
	return testkit.StartProc(t, testkit.ProcOptions{Name: "ffmpeg"}, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline", "-bf", "0",
		"-g", "30", "-b:v", "500k", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
}

// indexLines returns the complete lines of every rendition index of room1 under dataDir,
// by rendition.
func indexLines(t *testing.T, dataDir string) map[string][]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "dvr", "room1", "*", "*", "index.jsonl"))
	out := map[string][]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for sc := bufio.NewScanner(bytes.NewReader(data)); sc.Scan(); {
			lines = append(lines, sc.Text())
		}
		if len(data) > 0 && data[len(data)-1] != '\n' { // a torn last line is not a segment
			lines = lines[:len(lines)-1]
		}
		out[filepath.Base(filepath.Dir(f))] = lines
	}
	return out
}

// TestDVRSurvivesKill9: `glint serve` recording an RTMP room is killed with SIGKILL in the
// middle of a segment; the restarted serve recovers, and every segment that was complete
// in the index is still listed with its bytes, the index is consistent, the room's return
// continues the recording after a gap, and init + segment of each rendition decode.
func TestDVRSurvivesKill9(t *testing.T) {
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 3*time.Minute)
	bin, dataDir := glintBinary(t), t.TempDir()
	serve, url, _ := dvrServe(t, bin, dataDir)
	testkit.Eventually(t, ctx, "glint serve listening", func() bool { return strings.Contains(serve.Stderr(), "glint serving") })
	pub := publish(t, url)
	testkit.Eventually(t, ctx, "4 segments of 3 renditions stored", func() bool {
		lines := indexLines(t, dataDir)
		return len(lines) == 3 && !slices.ContainsFunc(slices.Collect(mapValues(lines)), func(l []string) bool { return len(l) < 4 })
	})
	time.Sleep(1500 * time.Millisecond) // somewhere in the middle of a 1 s segment's writes
	serve.Kill()
	pub.Kill()
	before := indexLines(t, dataDir)

	restart := time.Now()
	serve, url, base := dvrServe(t, bin, dataDir)
	testkit.Eventually(t, ctx, "glint serve listening again", func() bool { return strings.Contains(serve.Stderr(), "glint serving") })
	if m := regexp.MustCompile(`dvr: opened.*recovery=(\S+)`).FindStringSubmatch(serve.Stderr()); m != nil {
		t.Logf("recovery after kill -9: %s in the DVR (%v to serving); segments %d", m[1], time.Since(restart), count(before))
	}
	pub = publish(t, url)
	testkit.Eventually(t, ctx, "3 more segments of each rendition", func() bool {
		lines := indexLines(t, dataDir)
		for r, l := range before {
			if len(lines[r]) < len(l)+3 {
				return false
			}
		}
		return true
	})
	checkServedOverHTTP(t, ctx, base)
	pub.Kill()
	if err := serve.Stop(30 * time.Second); err != nil {
		t.Fatalf("glint serve after SIGTERM: %v", err)
	}
	checkRecovered(t, ctx, dataDir, before)
}

// checkServedOverHTTP: serve's DVR endpoints answer for the live room: the recordings API
// lists its recording, and ffprobe decodes the room's DVR window (multivariant → media
// playlist → stored segments).
func checkServedOverHTTP(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	resp, err := http.Get(base + "/api/recordings?room=room1")
	if err != nil {
		t.Fatalf("GET /api/recordings: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"room":"room1"`) || !strings.Contains(string(body), `"live":true`) {
		t.Fatalf("GET /api/recordings?room=room1: %d %s, want room1's live recording", resp.StatusCode, body)
	}
	streams, err := testkit.ProbeStreams(ctx, base+"/dvr/room1/index.m3u8", 0)
	if err != nil {
		t.Fatalf("ffprobe of the DVR window: %v", err)
	}
	if !slices.ContainsFunc(streams, func(s testkit.Stream) bool { return s.Codec == "h264" }) {
		t.Errorf("DVR window streams %+v, want an H.264 video", streams)
	}
}

// checkRecovered opens the data dir's DVR and checks the recording against the index
// lines complete at the kill.
func checkRecovered(t *testing.T, ctx context.Context, dataDir string, before map[string][]string) {
	lib, err := dvr.Open(ctx, dvr.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close(context.Background())
	recs := lib.Recordings("room1")
	if len(recs) != 1 || !recs[0].Interrupted || recs[0].End.IsZero() || len(recs[0].Renditions) != 3 {
		t.Fatalf("recordings: %+v, want one, interrupted, ended, with 3 renditions", recs)
	}
	id := recs[0].ID
	for r, lines := range before {
		segs, err := lib.Segments(id, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) < len(lines)+3 {
			t.Fatalf("%s: %d segments listed, %d complete at the kill + 3", r, len(segs), len(lines))
		}
		for i, s := range segs {
			if i < len(lines) && !strings.Contains(lines[i], `"key":"`+s.Key+`"`) {
				t.Fatalf("%s: segment %d is %s, the index at the kill had %s", r, i, s.Key, lines[i])
			}
			if wantGap := i == len(lines); s.Gap != wantGap || (i > 0 && s.MSN <= segs[i-1].MSN) {
				t.Errorf("%s: segment %d (MSN %d) gap %v, want %v", r, i, s.MSN, s.Gap, wantGap)
			}
			data, err := lib.Read(ctx, s.Key)
			if err != nil || int64(len(data)) != s.Bytes {
				t.Fatalf("%s: segment %s: %d bytes, listed %d (%v)", r, s.Key, len(data), s.Bytes, err)
			}
		}
		for _, i := range []int{0, len(lines) - 1, len(lines)} {
			probe(t, ctx, lib, r, segs[i])
		}
	}
}

// probe has ffprobe decode a segment after its init segment.
func probe(t *testing.T, ctx context.Context, lib *dvr.Library, rendition string, s dvr.Segment) {
	t.Helper()
	init, err := lib.Read(ctx, s.InitKey)
	if err != nil {
		t.Fatal(err)
	}
	data, err := lib.Read(ctx, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(file, append(init, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	streams, err := testkit.ProbeStreams(ctx, file, 10*time.Second)
	if err != nil || len(streams) != 1 || streams[0].Frames == 0 {
		t.Errorf("%s: segment %d does not decode: %v %v", rendition, s.MSN, streams, err)
	}
}

func count(m map[string][]string) (n int) {
	for _, l := range m {
		n += len(l)
	}
	return n
}

func mapValues(m map[string][]string) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// TestServeFailsOnAnUnusableDataDir: a data dir that cannot be used stops serve at start
// with an error naming it, after releasing what it had built.
func TestServeFailsOnAnUnusableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := serve(context.Background(), []string{"--http-addr", freeTCPAddr(t), "--udp-port", "0", "--ice-ip", "127.0.0.1",
		"--ice-tcp=false", "--rtmp-addr=", "--srt-addr=", "--data-dir", file, "--log-level", "error"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "dvr") || !strings.Contains(err.Error(), file) {
		t.Fatalf("serve with --data-dir on a file: %v, want a dvr error naming it", err)
	}
}

// TestServeRecordsToS3: `glint serve --dvr-s3-endpoint …` against a real S3 server
// (versitygw) records a room an ffmpeg RTMP publisher sends: the bucket, created at start,
// fills with the room's init and media segments, which decode, while the indexes stay on the
// local disk under --data-dir and no segment bytes do.
func TestServeRecordsToS3(t *testing.T) {
	srv := s3test.Start(t)
	t.Setenv("GLINT_DVR_S3_ACCESS_KEY", s3test.AccessKey)
	t.Setenv("GLINT_DVR_S3_SECRET_KEY", s3test.SecretKey)
	const bucket = "glint-serve-recordings" // not there yet: serve creates it
	addr, rtmp, data := freeTCPAddr(t), freeTCPAddr(t), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--http-addr", addr, "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
			"--rtmp-addr", rtmp, "--srt-addr=", "--data-dir", data, "--log-level", "warn",
			"--dvr-s3-endpoint", srv.Addr, "--dvr-s3-insecure", "--dvr-s3-bucket", bucket, "--dvr-s3-region", "us-east-1"}, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	// serve binds RTMP before HTTP: once /healthz answers, ffmpeg can connect.
	testkit.Eventually(t, testkit.Context(t, 30*time.Second), "glint serve answering /healthz", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	ffmpeg := testkit.StartProc(t, testkit.ProcOptions{}, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-c:v", "libx264", "-preset", "ultrafast",
		"-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p", "-t", "60", "-f", "flv", "rtmp://"+rtmp+"/live/s3room")
	defer ffmpeg.Kill()

	store, err := dvr.NewS3Store(testkit.Context(t, 10*time.Second), dvr.S3Options{Endpoint: srv.Endpoint(),
		Bucket: bucket, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatalf("the bucket serve should have created: %v", err)
	}
	var keys []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		keys, err = store.List(testkit.Context(t, 5*time.Second), "s3room/")
		var init, segs []string
		for _, k := range keys {
			switch base := filepath.Base(k); {
			case strings.HasPrefix(base, "init-"):
				init = append(init, k)
			case strings.HasPrefix(base, "seg-"):
				segs = append(segs, k)
			}
		}
		if len(init) > 0 && len(segs) >= 3 {
			checkDecodes(t, store, init[0], segs[0])
			break
		}
		if time.Now().After(deadline) || ffmpeg.Exited() {
			t.Fatalf("bucket %s after 60 s: %q (list error %v); ffmpeg exited %v: %s", bucket, keys, err, ffmpeg.Exited(), ffmpeg.Stderr())
		}
	}
	var indexes, local []string
	_ = filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case filepath.Base(p) == "index.jsonl":
			indexes = append(indexes, p)
		case strings.HasSuffix(p, ".m4s") || strings.HasSuffix(p, ".mp4"):
			local = append(local, p)
		}
		return nil
	})
	if len(indexes) == 0 || len(local) != 0 {
		t.Errorf("under --data-dir: indexes %q, segment files %q; want the indexes only", indexes, local)
	}
}

// checkDecodes has ffprobe decode a stored segment behind its init segment.
func checkDecodes(t *testing.T, store *dvr.S3Store, initKey, segKey string) {
	t.Helper()
	var file []byte
	for _, k := range []string{initKey, segKey} {
		b, err := store.Get(testkit.Context(t, 5*time.Second), k)
		if err != nil {
			t.Fatal(err)
		}
		file = append(file, b...)
	}
	p := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(p, file, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := testkit.ProbeStream(testkit.Context(t, 20*time.Second), p, time.Second)
	if err != nil || st.Codec != "h264" || st.Frames == 0 {
		t.Fatalf("ffprobe of %s + %s: %+v, %v; want h264", initKey, segKey, st, err)
	}
}

// TestServeStopsOnAnUnusableS3Store: wrong keys stop `glint serve` at start with an error that
// names the bucket and the server's answer, before anything is served.
func TestServeStopsOnAnUnusableS3Store(t *testing.T) {
	srv := s3test.Start(t)
	t.Setenv("GLINT_DVR_S3_ACCESS_KEY", s3test.AccessKey)
	t.Setenv("GLINT_DVR_S3_SECRET_KEY", "not-the-secret")
	ctx := testkit.Context(t, 30*time.Second)
	err := serve(ctx, []string{"--http-addr", freeTCPAddr(t), "--udp-port", "0", "--ice-ip", "127.0.0.1",
		"--ice-tcp=false", "--rtmp-addr=", "--srt-addr=", "--data-dir", t.TempDir(), "--log-level", "warn",
		"--dvr-s3-endpoint", srv.Addr, "--dvr-s3-insecure", "--dvr-s3-bucket", s3test.Bucket}, io.Discard)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), `bucket "`+s3test.Bucket+`"`) {
		t.Fatalf("serve with a wrong secret key: %v (context %v), want an error naming the bucket", err, ctx.Err())
	}
	t.Logf("serve: %v", err)
}
