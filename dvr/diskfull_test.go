package dvr

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tmpfsEnv names the tiny file system the child run of TestDiskFullOnTmpfs writes to.
const tmpfsEnv = "GLINT_DVR_TMPFS"

// TestDiskFullOnTmpfs fills a real file system: a 600 KiB tmpfs mounted in a mount
// namespace of its own (unshare -m, as root like the network namespace of the tests), in
// which this test binary runs again as the child. The Library raises the store-full alert
// and drops segments, the stream is never held up, what is listed stays readable and
// consistent, and the data dir reopens.
func TestDiskFullOnTmpfs(t *testing.T) {
	if dir := os.Getenv(tmpfsEnv); dir != "" {
		fillDisk(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command("unshare", "-m", "sh", "-c",
		`mount -t tmpfs -o size=600k tmpfs "$0" && exec "$1" -test.run '^TestDiskFullOnTmpfs$' -test.v -test.count=1`,
		dir, os.Args[0])
	cmd.Env = append(os.Environ(), tmpfsEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDiskFullOnTmpfs") {
		t.Fatalf("the run on a full tmpfs: %v\n%s", err, out)
	}
}

// fillDisk is the child: it records until the file system is full.
func fillDisk(t *testing.T, dir string) {
	l := openLib(t, dir, Options{StoreRetries: 1, RetryBackoff: time.Millisecond})
	f := newFeed(t, "room1", l, t0)
	for d := time.Second; d <= 30*time.Second && !l.stats.full.Load(); d += time.Second {
		f.until(d)
		waitDrained(t, l)
	}
	if !l.stats.full.Load() || l.stats.drops.Load() == 0 {
		t.Fatalf("after filling the disk: alert %v, drops %d", l.stats.full.Load(), l.stats.drops.Load())
	}
	t.Logf("disk full: %d segments dropped, %d store errors", l.stats.drops.Load(), l.stats.storeErrors.Load())
	f.until(40 * time.Second) // the stream goes on
	f.close()
	waitDrained(t, l)
	checkListed(t, l)
	closeLib(t, l)
	checkListed(t, openLib(t, dir, Options{}))
}

// checkListed checks that every listed segment is stored with its listed size.
func checkListed(t *testing.T, l *Library) {
	t.Helper()
	recs := l.Recordings("")
	if len(recs) != 1 || len(recs[0].Renditions) == 0 {
		t.Fatalf("recordings on the full disk: %+v", recs)
	}
	for _, r := range recs[0].Renditions {
		segs, _ := l.Segments(recs[0].ID, r)
		for _, s := range segs {
			data, err := l.Read(context.Background(), s.Key)
			if err != nil || int64(len(data)) != s.Bytes {
				t.Errorf("%s: listed segment %d: %d bytes stored, %d listed (%v)", r, s.MSN, len(data), s.Bytes, err)
			}
		}
	}
}
