package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/dvr"
	"github.com/glint-video/glint/dvr/s3test"
	"github.com/glint-video/glint/internal/testkit"
)

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
