package sfu_test

import (
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// TestIngestSurvivesEgressOverload floods many viewers from one publisher faster than this
// machine can encrypt and send (on 2 cores, with the race detector, far faster). Viewers
// may degrade (skip to keyframes, lose packets), but the publisher's packets must all reach
// the SFU: its reader only fills the packet ring and never waits for egress work, and the
// shared media socket has a large receive buffer.
func TestIngestSurvivesEgressOverload(t *testing.T) {
	ctx := testkit.Context(t, 90*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	pub := srv.Publish(t, ctx, "flood")

	const viewers, burst = 40, 3000
	recs := make([]*testnode.Received, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() { defer wg.Done(); _, recs[i] = srv.Play(t, ctx, "flood") }()
	}
	wg.Wait()
	pub.SendVideo(t, testnode.KeyframePayload(1), true)
	for i := 1; i <= burst; i++ {
		pub.SendVideo(t, testnode.DeltaPayload(i), i%10 == 0)
		if i%300 == 0 {
			pub.SendVideo(t, testnode.KeyframePayload(i), true)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // ~10-20k packets/s in, x40 out
		}
	}
	sentVideo := uint64(pub.VideoSent())
	testkit.Eventually(t, ctx, "the publisher's packets at the SFU", func() bool {
		tot := srv.SFU.Totals()
		return tot.PacketsIn >= sentVideo
	})
	time.Sleep(500 * time.Millisecond) // let the SFU's own NACKs settle
	tot := srv.SFU.Totals()
	t.Logf("in %d (lost %d), out %d, skips %d, viewers with video: %d", tot.PacketsIn, tot.IngestLost, tot.PacketsOut, tot.Skips, countWith(recs))
	if tot.IngestLost != 0 {
		t.Fatalf("%d publisher packets lost at ingest while egress was overloaded", tot.IngestLost)
	}
	if n := countWith(recs); n != viewers {
		t.Fatalf("only %d of %d viewers received video", n, viewers)
	}
}

func countWith(recs []*testnode.Received) int {
	n := 0
	for _, r := range recs {
		if r.Count("video") > 0 {
			n++
		}
	}
	return n
}
