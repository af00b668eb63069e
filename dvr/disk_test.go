package dvr

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiskStore: keys in the layout round-trip durably; malformed keys (traversal,
// absolute, odd characters) are ErrBadID before any file is touched.
func TestDiskStore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := NewDiskStore(filepath.Join(root, "dvr"))
	if err != nil {
		t.Fatal(err)
	}
	good := []string{"r1/r1.20260101T000000Z/hi/seg-7.m4s", "r1/r1.20260101T000000Z/hi/init-7.mp4", "r2/x.bin"}
	for _, k := range good {
		if err := d.Put(ctx, k, []byte(k)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		got, err := d.Get(ctx, k)
		if err != nil || string(got) != k {
			t.Fatalf("get %s: %q, %v", k, got, err)
		}
	}
	if n, err := d.Size(ctx, good[0]); err != nil || n != int64(len(good[0])) {
		t.Errorf("size %s: %d, %v", good[0], n, err)
	}
	keys, err := d.List(ctx, "r1/")
	if want := []string{good[1], good[0]}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("list r1/: %v, %v; want %v", keys, err, want)
	}
	if _, err := d.Get(ctx, "r1/nope.m4s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get of a missing key: %v, want ErrNotFound", err)
	}
	bad := []struct{ name, key string }{
		{"empty", ""}, {"parent", "../etc/passwd"}, {"parent inside", "r1/../../x"}, {"dot", "r1/./x"},
		{"absolute", "/etc/passwd"}, {"trailing slash", "r1/"}, {"double slash", "r1//x"},
		{"backslash", `r1\..\x`}, {"space", "r1/a b"}, {"hidden", "r1/.tmp-1"}, {"nul", "r1/a\x00"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if err := d.Put(ctx, c.key, []byte("x")); !errors.Is(err, ErrBadID) {
				t.Errorf("put %q: %v, want ErrBadID", c.key, err)
			}
			if _, err := d.Get(ctx, c.key); !errors.Is(err, ErrBadID) {
				t.Errorf("get %q: %v, want ErrBadID", c.key, err)
			}
			if err := d.Delete(ctx, c.key); !errors.Is(err, ErrBadID) {
				t.Errorf("delete %q: %v, want ErrBadID", c.key, err)
			}
		})
	}
	if _, err := d.List(ctx, "../"); !errors.Is(err, ErrBadID) {
		t.Errorf("list ../: %v, want ErrBadID", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a traversal key wrote outside the store: %v", err)
	}
	for _, k := range good {
		if err := d.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete(ctx, good[0]); err != nil {
		t.Errorf("delete of a missing key: %v", err)
	}
	if entries, _ := os.ReadDir(d.Root()); len(entries) != 0 {
		t.Errorf("empty directories left after deleting every key: %v", entries)
	}
}

// TestDiskFullIsStoreFull: ENOSPC and EDQUOT from the file system are ErrStoreFull (and
// keep their cause); other errors are not.
func TestDiskFullIsStoreFull(t *testing.T) {
	for _, c := range []struct {
		err  error
		full bool
	}{
		{&fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{&fs.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, true},
		{&fs.PathError{Op: "write", Path: "x", Err: syscall.EIO}, false},
	} {
		err := diskError(c.err)
		if errors.Is(err, ErrStoreFull) != c.full || !errors.Is(err, c.err) {
			t.Errorf("%v: %v (full %v)", c.err, err, c.full)
		}
	}
}

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
