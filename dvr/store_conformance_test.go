package dvr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDiskStoreConformance(t *testing.T) {
	testStoreConformance(t, func(t *testing.T) Store {
		s, err := NewDiskStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// testStoreConformance checks the Store contract that every implementation (disk, S3) must
// keep: newStore returns an empty store.
func testStoreConformance(t *testing.T, newStore func(t *testing.T) Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"PutGet", conformPutGet},
		{"Overwrite", conformOverwrite},
		{"DeleteAndMissing", conformDeleteAndMissing},
		{"ListOrderAndPrefixes", conformList},
		{"ConcurrentPuts", conformConcurrentPuts},
		{"BigObject", conformBigObject},
		{"BadKeys", conformBadKeys},
		{"Sizer", conformSizer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

func conformCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(conformCtx(t), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(conformCtx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q): %d bytes, want %d bytes (%q… vs %q…)", key, len(got), len(want),
			got[:min(len(got), 16)], want[:min(len(want), 16)])
	}
}

func mustList(t *testing.T, s Store, prefix string, want []string) {
	t.Helper()
	got, err := s.List(conformCtx(t), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func conformPutGet(t *testing.T, s Store) {
	init := []byte("ftyp-init-bytes")
	seg := []byte("moof+mdat segment bytes")
	mustPut(t, s, "room1/room1.20261205T210000Z/720p/init-1.mp4", init)
	mustPut(t, s, "room1/room1.20261205T210000Z/720p/seg-42.m4s", seg)
	mustPut(t, s, "room1/room1.20261205T210000Z/720p/seg-43.m4s", []byte{}) // empty is an object too
	seg[0] = 'X'                                                            // the store kept its own copy
	mustGet(t, s, "room1/room1.20261205T210000Z/720p/init-1.mp4", init)
	mustGet(t, s, "room1/room1.20261205T210000Z/720p/seg-42.m4s", []byte("moof+mdat segment bytes"))
	mustGet(t, s, "room1/room1.20261205T210000Z/720p/seg-43.m4s", []byte{})
}

func conformOverwrite(t *testing.T, s Store) {
	key := "r/r.20261205T210000Z/480p/seg-1.m4s"
	mustPut(t, s, key, bytes.Repeat([]byte("first"), 1000))
	mustPut(t, s, key, []byte("second, shorter"))
	mustGet(t, s, key, []byte("second, shorter"))
	mustList(t, s, "", []string{key})
}

func conformDeleteAndMissing(t *testing.T, s Store) {
	ctx := conformCtx(t)
	key := "r/r.20261205T210000Z/480p/seg-7.m4s"
	if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	mustPut(t, s, key, []byte("x"))
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete: %v, want nil", err)
	}
	mustList(t, s, "", nil)
}

func conformList(t *testing.T, s Store) {
	keys := []string{
		"b/b.20261205T210000Z/recording.json",
		"a/a.20261205T220000Z/360p/seg-2.m4s",
		"a/a.20261205T210000Z/720p/seg-10.m4s",
		"a/a.20261205T210000Z/720p/seg-9.m4s",
		"a/a.20261205T210000Z/720p/init-1.mp4",
		"a/a.20261205T210000Z/360p/seg-9.m4s",
		"ab/ab.20261205T210000Z/720p/seg-1.m4s",
	}
	for _, k := range keys {
		mustPut(t, s, k, []byte(k))
	}
	all := slices.Clone(keys)
	slices.Sort(all)
	mustList(t, s, "", all)
	mustList(t, s, "a/", []string{ // byte order, not numeric: callers order by the index
		"a/a.20261205T210000Z/360p/seg-9.m4s",
		"a/a.20261205T210000Z/720p/init-1.mp4",
		"a/a.20261205T210000Z/720p/seg-10.m4s",
		"a/a.20261205T210000Z/720p/seg-9.m4s",
		"a/a.20261205T220000Z/360p/seg-2.m4s",
	})
	mustList(t, s, "a/a.20261205T210000Z/720p/", []string{
		"a/a.20261205T210000Z/720p/init-1.mp4",
		"a/a.20261205T210000Z/720p/seg-10.m4s",
		"a/a.20261205T210000Z/720p/seg-9.m4s",
	})
	mustList(t, s, "ab/", []string{"ab/ab.20261205T210000Z/720p/seg-1.m4s"})
	mustList(t, s, "c/", nil)
	mustList(t, s, "a/a.20261205T230000Z/", nil)
}

func conformConcurrentPuts(t *testing.T, s Store) {
	const writers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	var want []string
	for w := range writers {
		for i := range each {
			want = append(want, concurrentKey(w, i))
		}
		wg.Go(func() {
			for i := range each {
				key := concurrentKey(w, i)
				if err := s.Put(context.Background(), key, []byte(key)); err != nil {
					errs <- fmt.Errorf("Put(%q): %w", key, err)
				}
			}
		})
	}
	// Overwrites of one key race too: whichever wins, the object is whole.
	shared := "r/r.20261205T210000Z/src/seg-0.m4s"
	for w := range writers {
		wg.Go(func() {
			if err := s.Put(context.Background(), shared, bytes.Repeat([]byte{byte('a' + w)}, 4096)); err != nil {
				errs <- fmt.Errorf("Put(%q): %w", shared, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, k := range want {
		mustGet(t, s, k, []byte(k))
	}
	got, err := s.Get(conformCtx(t), shared)
	if err != nil || len(got) != 4096 || bytes.Count(got, got[:1]) != 4096 {
		t.Fatalf("racing overwrites left %d bytes (err %v), want 4096 bytes of one writer", len(got), err)
	}
	want = append(want, shared)
	slices.Sort(want)
	mustList(t, s, "", want)
}

func concurrentKey(w, i int) string {
	return fmt.Sprintf("r/r.20261205T210000Z/w%d/seg-%d.m4s", w, i)
}

func conformBigObject(t *testing.T, s Store) {
	// Over 16 MiB: S3 clients switch to multipart uploads there.
	data := make([]byte, 17<<20+12345)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	rng.Read(data)
	key := "big/big.20261205T210000Z/src/seg-1.m4s"
	mustPut(t, s, key, data)
	mustGet(t, s, key, data)
}

func conformBadKeys(t *testing.T, s Store) {
	ctx := conformCtx(t)
	bad := []string{
		"", "/abs/seg-1.m4s", "../seg-1.m4s", "a/../../seg-1.m4s", "a/./seg-1.m4s", "a//seg-1.m4s",
		"a/b/", "a\\..\\seg-1.m4s", "a/seg\x00.m4s", "a/seg\n.m4s", "..", ".",
		strings.Repeat("k", 1100),
	}
	for _, key := range bad {
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, ErrBadID) {
			t.Errorf("Put(%q): %v, want ErrBadID", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, ErrBadID) {
			t.Errorf("Get(%q): %v, want ErrBadID", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrBadID) {
			t.Errorf("Delete(%q): %v, want ErrBadID", key, err)
		}
	}
	for _, prefix := range []string{"../", "/abs/", "a/../"} {
		if _, err := s.List(ctx, prefix); !errors.Is(err, ErrBadID) {
			t.Errorf("List(%q): %v, want ErrBadID", prefix, err)
		}
	}
	mustList(t, s, "", nil) // nothing was written anywhere
}

// conformSizer: a store that implements Sizer tells the size of what Get returns.
func conformSizer(t *testing.T, s Store) {
	sz, ok := s.(Sizer)
	if !ok {
		t.Skipf("%T does not implement Sizer", s)
	}
	ctx := conformCtx(t)
	key := "r/r.20261205T210000Z/src/seg-5.m4s"
	mustPut(t, s, key, make([]byte, 12345))
	if n, err := sz.Size(ctx, key); err != nil || n != 12345 {
		t.Fatalf("Size(%q) = %d, %v; want 12345", key, n, err)
	}
	if _, err := sz.Size(ctx, "r/r.20261205T210000Z/src/seg-6.m4s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Size of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := sz.Size(ctx, "../x"); !errors.Is(err, ErrBadID) {
		t.Fatalf("Size of a bad key: %v, want ErrBadID", err)
	}
}
