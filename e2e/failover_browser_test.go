package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// failoverState is a watch page sample with the node it plays from (web/static/failover.js).
type failoverState struct {
	pageState
	Node  string `json:"node"`
	Moves int    `json:"moves"`
}

// TestWatchPageFailsOverToAnotherNode: two independent `glint serve` nodes, each with the
// room published by its own `glint demo`; a Chromium watch page on node A that knows node B
// (?nodes=) plays from A; A is killed (SIGKILL) and the page plays again from B by itself.
// The time from the kill to the first sample of decoded video from B is the failover time
// (samples come once a second, so it is measured to within a second, from above).
func TestWatchPageFailsOverToAnotherNode(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	a, b := startServer(t), startServer(t)
	const room = "failover"
	for _, srv := range []*server{a, b} {
		testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo " + srv.base}, glintBin(t), "demo",
			"--url", srv.url("/whip/"+room), "--size", "320x180", "--loopback")
		srv.waitRoom(t, room, 30*time.Second, "live with video", func(r roomInfo) bool {
			_, ok := r.track("video")
			return r.Live && ok
		})
	}
	page := startBrowser(t, "watch", a.url("/watch/"+room), 90, "--query=nodes="+b.base)
	waitPageSample(page, 40*time.Second, "video from node A", func(s failoverState) bool {
		return strings.HasPrefix(s.Node, a.base) && s.State == "live" && s.Video.FramesDecoded > 0
	})

	a.killed = true
	a.proc.Kill()
	killedAt := time.Now()
	s := waitPageSample(page, 30*time.Second, "video from node B after node A was killed", func(s failoverState) bool {
		return strings.HasPrefix(s.Node, b.base) && s.State == "live" && s.Video.FramesDecoded > 0
	})
	took := time.Since(killedAt)
	t.Logf("watch page: playing from node B %.1fs after node A was killed (moves %d, %d frames decoded)", took.Seconds(), s.Moves, s.Video.FramesDecoded)
	if s.Moves < 1 {
		t.Errorf("the page reports %d moves, want at least 1", s.Moves)
	}
	// The target is 3 s; the margin covers the once-a-second samples and a loaded machine.
	if took > 6*time.Second {
		t.Errorf("the page played from node B %.1fs after the kill, want within 3 s (6 s with margins)", took.Seconds())
	}
	page.finish()
}
