package hlsbridge

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"go.uber.org/goleak"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelFatal) // libx264 prints its settings, the decoder every bad slice of the junk room
	goleak.VerifyTestMain(m)
}

// testEnv is a test node (the SFU with WHIP/WHEP signaling on httptest, media on 127.0.0.1
// only) with an hls.Server at /hls/.
type testEnv struct {
	*testnode.Node
	hls    *hls.Server
	client *http.Client
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	n := testnode.Start(t, testnode.Options{})
	hs := hls.NewServer(n.Log)
	n.Mux.Handle("/hls/", hs)
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(client.CloseIdleConnections)
	return &testEnv{Node: n, hls: hs, client: client}
}

// runManager runs a Manager on the env's SFU and hls.Server (it fills in o.SFU, o.Server and
// o.Log) until ctx ends or the test does; the test's cleanup waits for Run to return.
func (e *testEnv) runManager(t *testing.T, ctx context.Context, o Options) *Manager {
	t.Helper()
	o.SFU, o.Server, o.Log = e.SFU, e.hls, e.Log
	m, err := NewManager(o)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, ctx, func(ctx context.Context) {
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return m
}

// runLocalPublisher runs send in a goroutine until done is closed, by stop or at the end of
// the test; stop then waits for send to return and closes pub.
func runLocalPublisher(t *testing.T, pub *sfu.LocalPublisher, send func(done <-chan struct{})) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { send(done) })
	stop = sync.OnceFunc(func() {
		close(done)
		wg.Wait()
		pub.Close()
	})
	t.Cleanup(stop)
	return stop
}

// get fetches url and returns the status, the body and when the response was complete.
func (e *testEnv) get(ctx context.Context, url string) (int, []byte, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	res, err := e.client.Do(req)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, time.Now(), err
}

// waitFor polls url until check accepts its body (status 200), failing the test at ctx's end.
func (e *testEnv) waitFor(t *testing.T, ctx context.Context, what, url string, check func(string) bool) string {
	t.Helper()
	var last string
	for {
		if code, body, _, err := e.get(ctx, url); err == nil && code == http.StatusOK {
			if last = string(body); check(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not seen at %s before the deadline; last body:\n%s", what, url, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
