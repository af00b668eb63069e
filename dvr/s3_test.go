package dvr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glint-video/glint/dvr/s3test"
)

// TestS3StoreConformance runs the Store contract against versitygw; each case gets its own
// prefix in one bucket, so it starts empty.
func TestS3StoreConformance(t *testing.T) {
	srv := s3test.Start(t)
	var n atomic.Int32
	testStoreConformance(t, func(t *testing.T) Store {
		return newS3Store(t, srv, fmt.Sprintf("conformance-%d/", n.Add(1)), 0)
	})
}

// TestS3StorePrefixIsolates: stores with different prefixes in one bucket see only their
// own keys, and the objects sit under the prefix in the bucket.
func TestS3StorePrefixIsolates(t *testing.T) {
	srv := s3test.Start(t)
	a := newS3Store(t, srv, "node-a/dvr/", 0)
	b := newS3Store(t, srv, "node-b/dvr", 0) // the slash after it is added
	ctx := conformCtx(t)
	key := "room/room.20261205T210000Z/720p/seg-1.m4s"
	mustPut(t, a, key, []byte("from a"))
	mustPut(t, b, key, []byte("from b"))
	mustGet(t, a, key, []byte("from a"))
	mustGet(t, b, key, []byte("from b"))
	mustList(t, a, "", []string{key})
	if err := a.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	mustGet(t, b, key, []byte("from b"))
	onDisk := filepath.Join(srv.Dir, s3test.Bucket, "node-b", "dvr", filepath.FromSlash(key))
	if data, err := os.ReadFile(onDisk); err != nil || string(data) != "from b" {
		t.Fatalf("object in the bucket at %s: %q, %v", onDisk, data, err)
	}
}

// TestS3StoreCreatesBucket: a missing bucket is created at start (with no region given).
func TestS3StoreCreatesBucket(t *testing.T) {
	srv := s3test.Start(t)
	opts := s3Options(srv, "", 0)
	opts.Bucket = "made-by-glint"
	opts.Region = "" // the client asks the server
	s, err := NewS3Store(conformCtx(t), opts)
	if err != nil {
		t.Fatalf("NewS3Store with a missing bucket: %v", err)
	}
	mustPut(t, s, "r/r.20261205T210000Z/src/seg-1.m4s", []byte("x"))
	if _, err := os.Stat(filepath.Join(srv.Dir, "made-by-glint", "r")); err != nil {
		t.Fatalf("bucket not created on the server: %v", err)
	}
	// A second store on the now existing bucket starts too.
	if _, err := NewS3Store(conformCtx(t), opts); err != nil {
		t.Fatalf("NewS3Store on an existing bucket: %v", err)
	}
}

// TestS3StoreStartErrors: bad settings and unusable servers fail at start with an error
// that names the problem, quickly.
func TestS3StoreStartErrors(t *testing.T) {
	srv := s3test.Start(t)
	wrongSecret := s3Options(srv, "", 0)
	wrongSecret.SecretKey = "not-the-secret"
	badBucket := s3Options(srv, "", 0)
	badBucket.Bucket = "Bad_Bucket!"
	refused := s3Options(srv, "", 2*time.Second)
	refused.Endpoint = "http://127.0.0.1:1" // nothing listens there
	cases := []struct {
		name string
		opts S3Options
		want string
	}{
		{"no endpoint", S3Options{Bucket: "b"}, "no endpoint"},
		{"no bucket", S3Options{Endpoint: "127.0.0.1:9"}, "no bucket"},
		{"bad scheme", S3Options{Endpoint: "ftp://127.0.0.1:9", Bucket: "b"}, "scheme"},
		{"endpoint with a path", S3Options{Endpoint: "http://127.0.0.1:9/x", Bucket: "b"}, "host[:port] only"},
		{"prefix escapes", S3Options{Endpoint: "127.0.0.1:9", Bucket: "b", Prefix: "../x/"}, "prefix"},
		{"wrong secret", wrongSecret, `bucket "glint-dvr"`},
		{"bad bucket name", badBucket, "Bad_Bucket!"},
		{"refused", refused, "127.0.0.1:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := NewS3Store(conformCtx(t), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewS3Store: %v, want an error naming %q", err, c.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("NewS3Store took %v to fail", d)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestS3StoreStalledServerFailsFast: every call against a hung server (SIGSTOP) or a dead one
// (killed: refused) returns an error within its timeout instead of hanging, and the store
// works again once the server is back.
func TestS3StoreStalledServerFailsFast(t *testing.T) {
	srv := s3test.Start(t)
	const timeout = 500 * time.Millisecond
	s := newS3Store(t, srv, "", timeout)
	check := newS3Store(t, srv, "", 0) // reads back with the default timeout
	key := "r/r.20261205T210000Z/src/seg-1.m4s"
	mustPut(t, s, key, []byte("before"))
	calls := map[string]func(ctx context.Context) error{
		"Put":    func(ctx context.Context) error { return s.Put(ctx, key, []byte("during")) },
		"Get":    func(ctx context.Context) error { _, err := s.Get(ctx, key); return err },
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, key) },
		"List":   func(ctx context.Context) error { _, err := s.List(ctx, ""); return err },
	}
	checkAllFail := func(state string) {
		t.Helper()
		for name, call := range calls {
			start := time.Now()
			err := call(context.Background())
			d := time.Since(start)
			if err == nil {
				t.Errorf("%s with the server %s: no error", name, state)
			}
			// The bound is the timeout plus scheduling slack (race detector, shared CPUs).
			if d > timeout+3*time.Second {
				t.Errorf("%s with the server %s took %v, want about %v at most", name, state, d, timeout)
			}
			t.Logf("%s with the server %s: %v after %v", name, state, err, d.Round(time.Millisecond))
		}
	}

	srv.Pause()
	checkAllFail("paused")
	// A caller's own deadline ends the call sooner than the store's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	start := time.Now()
	err := s.Put(ctx, key, []byte("during"))
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > timeout {
		t.Errorf("Put with a 50 ms context on a paused server: %v after %v", err, time.Since(start))
	}
	// Requests the paused server had queued may still run once it continues, so the checks
	// after it use other keys.
	srv.Resume()
	putAgain(t, s, "r/r.20261205T210000Z/src/seg-2.m4s", []byte("resumed"))
	mustGet(t, check, "r/r.20261205T210000Z/src/seg-2.m4s", []byte("resumed"))

	srv.Kill()
	checkAllFail("killed")
	srv.Restart()
	putAgain(t, s, "r/r.20261205T210000Z/src/seg-3.m4s", []byte("restarted"))
	mustGet(t, check, "r/r.20261205T210000Z/src/seg-3.m4s", []byte("restarted"))
}

// putAgain puts key until the server takes it, as the recorder's retries do: a server that
// just continued or restarted may first work off a backlog longer than one call's timeout.
func putAgain(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	var err error
	for try, deadline := 1, time.Now().Add(20*time.Second); time.Now().Before(deadline); try++ {
		if err = s.Put(context.Background(), key, data); err == nil {
			t.Logf("Put(%q) succeeded at try %d", key, try)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Put(%q) still failing 20 s after the server came back: %v", key, err)
}

// TestS3StoreListsPastOnePage: S3 answers a listing 1,000 keys at a time; List returns all
// of them, sorted.
func TestS3StoreListsPastOnePage(t *testing.T) {
	srv := s3test.Start(t)
	s := newS3Store(t, srv, "pages", 0)
	const n = 1234
	want := make([]string, n)
	keys := make(chan string, n)
	for i := range n {
		want[i] = fmt.Sprintf("r/r.20261205T210000Z/src/seg-%d.m4s", i)
		keys <- want[i]
	}
	close(keys)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				if err := s.Put(context.Background(), k, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(want)
	mustList(t, s, "r/", want)
}
