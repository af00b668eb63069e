package hlsbridge

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
)

// renditionLog records which renditions a sink was given segments of.
type renditionLog struct {
	mu   sync.Mutex
	segs map[string]int
}

func (r *renditionLog) add(s hls.FinishedSegment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.segs[s.Rendition]++
}

func (r *renditionLog) get() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.segs {
		out[k] = v
	}
	return out
}

var segmentMSN = regexp.MustCompile(`(?m)^seg(\d+)\.m4s$`)

// segmentNumbers returns the media sequence numbers of a playlist's complete segments.
func segmentNumbers(t *testing.T, playlist string) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range segmentMSN.FindAllStringSubmatch(playlist, -1) {
		n, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// TestOnDemand: an on-demand room passes its source through while nobody requests its HLS
// (the DVR's sink sees the source and the audio), the first multivariant request wakes the
// re-encoded rung and lists it, idle it parks again, and a request for the rung's playlist
// wakes it with higher segment numbers that line up with the source's.
func TestOnDemand(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 90*time.Second)
	env := newTestEnv(t)
	recorded := &renditionLog{segs: map[string]int{}}
	rooms := func(room string) config.RoomSettings {
		s := testRooms(room)
		s.HLSMode = config.HLSOnDemand
		return s
	}
	m := env.runManager(t, context.Background(), Options{Rooms: rooms, Poll: 100 * time.Millisecond,
		Idle: 3 * time.Second, HLS: hls.Config{Sink: hls.SinkFuncs{Segment: recorded.add}}})
	startDemo(t, env)
	base := env.URL + "/hls/" + testRoom + "/"

	testkit.Eventually(t, ctx, "source and audio segments recorded while parked", func() bool {
		got := recorded.get()
		return got["source"] >= 2 && got["a"] >= 2 && slices.Equal(m.ParkedRooms(), []string{testRoom})
	})
	start := time.Now()
	code, body, done, err := env.get(ctx, base+"index.m3u8")
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), "240p/index.m3u8") {
		t.Fatalf("waking multivariant request: %d %v\n%s", code, err, body)
	}
	t.Logf("multivariant with the woken rung after %v", done.Sub(start).Round(time.Millisecond))
	if len(m.ParkedRooms()) != 0 {
		t.Errorf("still parked after a request: %v", m.ParkedRooms())
	}
	if err := probe(ctx, t, base+"240p/index.m3u8", "240p"); err != nil {
		t.Error(err)
	}
	_, first, _, _ := env.get(ctx, base+"240p/index.m3u8")
	served := segmentNumbers(t, string(first))
	if len(served) == 0 {
		t.Fatalf("no segment in the woken rung's playlist:\n%s", first)
	}

	testkit.Eventually(t, ctx, "parked again after the idle time", func() bool {
		return slices.Equal(m.ParkedRooms(), []string{testRoom})
	})
	code, again, _, err := env.get(ctx, base+"240p/index.m3u8") // a player that kept the old multivariant
	if err != nil || code != http.StatusOK {
		t.Fatalf("rung playlist after parking: %d %v", code, err)
	}
	resumed := segmentNumbers(t, string(again))
	if len(resumed) == 0 || resumed[0] <= served[len(served)-1] {
		t.Fatalf("resumed segments %v, served before up to %v:\n%s", resumed, served, again)
	}
	_, src, _, _ := env.get(ctx, base+"source/index.m3u8")
	for _, n := range resumed {
		if !slices.Contains(segmentNumbers(t, string(src)), n) && n < segmentNumbers(t, string(src))[0] {
			t.Errorf("rung segment %d is older than the source's window %v", n, segmentNumbers(t, string(src)))
		}
	}
	if got := recorded.get(); got["240p"] != 0 {
		t.Errorf("the re-encoded rung of an on-demand room was recorded: %v", got)
	}
}
