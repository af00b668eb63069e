package llhls

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Parameter sets of two real H.264 streams (libx264, 320x240 and 160x120), so that the
// origin can build init segments; the slices that follow them are filler, as nothing here
// decodes pictures.
var (
	sps320 = mustHex("6764000dacb20283f60220000003002000000781e28549")
	sps160 = mustHex("6764000bacb20508fcb80880000003008000001e078a1524")
	ppsX   = mustHex("68ebc3cb22c0")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

const (
	testFPS = 30
	gop     = 30 // a keyframe every second: one per segment
)

// sent is one access unit written to the origin.
type sent struct {
	captured time.Time
	hasSEI   bool
	size     int
	keyframe bool
}

// accessUnit builds AVCC access unit n: SPS and PPS before keyframes, a capture-time SEI
// on two frames of three, and a filler slice whose size varies with n.
func accessUnit(n int, key bool, sps []byte, captured time.Time) ([]byte, bool) {
	var au []byte
	nal := func(b []byte) {
		au = binary.BigEndian.AppendUint32(au, uint32(len(b)))
		au = append(au, b...)
	}
	if key {
		nal(sps)
		nal(ppsX)
	}
	withSEI := n%3 != 2
	if withSEI {
		nal(media.AppendCaptureSEI(nil, captured))
	}
	slice := make([]byte, 200+(n*37)%900)
	slice[0] = 0x41
	if key {
		slice[0] = 0x65
	}
	for i := 1; i < len(slice); i++ {
		slice[i] = byte(n+i) | 1 // no start-code-like runs of zeros
	}
	nal(slice)
	return au, withSEI
}

// feed writes frames in real time to track: n frames, then (if disc) a discontinuity with
// a new resolution and restarted timestamps, then n more; capture times run 300 ms behind
// the wall clock. It returns what it wrote, in order.
func feed(ctx context.Context, t *testing.T, tr *hls.Track, n int, disc bool) []sent {
	var out []sent
	frame := time.Second / testFPS
	start := time.Now()
	captureBase := start.Add(-300 * time.Millisecond)
	sps := sps320
	write := func(i, k int) bool {
		dts := time.Duration(k) * frame
		captured := captureBase.Add(time.Duration(i) * frame)
		key := k%gop == 0
		au, withSEI := accessUnit(i, key, sps, captured)
		if err := tr.WriteSample(hls.Sample{Data: au, DTS: dts, PTS: dts, Keyframe: key, Duration: frame,
			CaptureTime: captured}); err != nil {
			t.Errorf("write sample %d: %v", i, err)
			return false
		}
		out = append(out, sent{captured: captured, hasSEI: withSEI, size: len(au), keyframe: key})
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(start.Add(time.Duration(i+1) * frame))):
		}
		return true
	}
	for i := 0; i < n; i++ {
		if !write(i, i) {
			return out
		}
	}
	if disc {
		sps = sps160
		if err := tr.Discontinuity(hls.VideoTrackInfo{SPS: sps160, PPS: ppsX, FPS: testFPS}); err != nil {
			t.Errorf("discontinuity: %v", err)
		}
		for k := 0; k < n; k++ {
			if !write(n+k, k) {
				return out
			}
		}
	}
	return out
}

// origin serves one room's stream under /hls/; it can make one part URI fail with 404,
// ignore blocking reload directives and leave out preload hints.
type origin struct {
	hls      *hls.Server
	dropNth  int  // the nth distinct part requested answers 404 forever (0: none)
	noBlock  bool // answer blocking reloads at once, with the playlist as it is
	noHints  bool // no EXT-X-PRELOAD-HINT in playlists
	mu       sync.Mutex
	parts    map[string]bool
	dropped  string
	initURIs map[string]bool
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	if strings.HasPrefix(name, "init") {
		o.initURIs[name] = true
	}
	if strings.HasPrefix(name, "part") && !o.parts[name] {
		o.parts[name] = true
		if len(o.parts) == o.dropNth {
			o.dropped = name
		}
	}
	drop := name == o.dropped
	o.mu.Unlock()
	if drop {
		http.Error(w, "gone", http.StatusNotFound)
		return
	}
	if o.noBlock {
		r.URL.RawQuery = ""
	}
	if !o.noHints || !strings.HasSuffix(name, ".m3u8") {
		o.hls.ServeHTTP(w, r)
		return
	}
	r.Header.Del("Accept-Encoding")
	rec := httptest.NewRecorder()
	o.hls.ServeHTTP(rec, r)
	var body strings.Builder
	for line := range strings.Lines(rec.Body.String()) {
		if !strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT") {
			body.WriteString(line)
		}
	}
	w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
	w.WriteHeader(rec.Code)
	_, _ = io.WriteString(w, body.String())
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
