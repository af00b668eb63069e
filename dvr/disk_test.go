package dvr

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
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
	if onDisk(filepath.Join(root, "etc")) {
		t.Error("a traversal key wrote outside the store")
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

// onDisk reports whether anything is at path (a Stat error other than not-exist counts).
func onDisk(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
