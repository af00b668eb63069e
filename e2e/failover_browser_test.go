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

// twoNodesOnePage starts two independent `glint serve` nodes, each with room published by its
// own `glint demo`, and a Chromium watch page on node A that knows node B (?nodes=), playing
// from A.
func twoNodesOnePage(t *testing.T, room string) (a, b *server, page *browser) {
	t.Helper()
	requireBrowser(t)
	requireFFmpeg(t)
	a, b = startServer(t), startServer(t)
	for _, srv := range []*server{a, b} {
		testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo " + srv.base}, glintBin(t), "demo",
			"--url", srv.url("/whip/"+room), "--size", "320x180", "--loopback")
		srv.waitRoom(t, room, 30*time.Second, "live with video", func(r roomInfo) bool {
			_, ok := r.track("video")
			return r.Live && ok
		})
	}
	page = startBrowser(t, "watch", a.url("/watch/"+room), 90, "--query=nodes="+b.base)
	waitPageSample(page, 40*time.Second, "video from node A", func(s failoverState) bool {
		return strings.HasPrefix(s.Node, a.base) && s.State == "live" && s.Video.FramesDecoded > 0
	})
	return a, b, page
}

// playsFromB waits for the page to decode video from node B and returns how long after since
// (samples come once a second, so this is measured to within a second, from above).
func playsFromB(t *testing.T, page *browser, b *server, since time.Time, what string) time.Duration {
	t.Helper()
	s := waitPageSample(page, 30*time.Second, "video from node B after "+what, func(s failoverState) bool {
		return strings.HasPrefix(s.Node, b.base) && s.State == "live" && s.Video.FramesDecoded > 0
	})
	took := time.Since(since)
	t.Logf("watch page: playing from node B %.1fs after %s (moves %d, %d frames decoded)", took.Seconds(), what, s.Moves, s.Video.FramesDecoded)
	if s.Moves < 1 {
		t.Errorf("the page reports %d moves, want at least 1", s.Moves)
	}
	return took
}

// TestWatchPageFailsOverToAnotherNode: node A is killed (SIGKILL) and the page plays again from
// node B by itself.
func TestWatchPageFailsOverToAnotherNode(t *testing.T) {
	a, b, page := twoNodesOnePage(t, "failover")
	a.killed = true
	a.proc.Kill()
	took := playsFromB(t, page, b, time.Now(), "node A was killed")
	// The target is 3 s; the margin covers the once-a-second samples and a loaded machine.
	if took > 6*time.Second {
		t.Errorf("the page played from node B %.1fs after the kill, want within 3 s (6 s with margins)", took.Seconds())
	}
	page.finish()
}

// TestWatchPageMovesOffADrainingNode: node A gets SIGTERM (a 10 s drain by default): its room
// event tells the page to move, the page plays from node B, and node A, its last viewer gone,
// ends the drain early and exits 0.
func TestWatchPageMovesOffADrainingNode(t *testing.T) {
	a, b, page := twoNodesOnePage(t, "drain")
	a.proc.Terminate()
	playsFromB(t, page, b, time.Now(), "node A began to drain")
	if err := a.proc.Wait(15 * time.Second); err != nil {
		t.Errorf("node A after its drain: %v (want exit status 0)", err)
	}
	for _, want := range []string{"draining before shutdown", "drain over: sessions ended", "msg=stopped"} {
		if !strings.Contains(a.proc.Stderr(), want) {
			t.Errorf("node A's log lacks %q", want)
		}
	}
	page.finish()
}
