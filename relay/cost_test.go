package relay_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
)

// costWindow is one measurement of the process's CPU.
const costWindow = 3 * time.Second

// processCPU is the process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPerSecond measures the process's CPU share over costWindow (1.0 = one core).
func cpuPerSecond(b *testing.B) float64 {
	start, t0 := processCPU(b), time.Now()
	time.Sleep(costWindow)
	return float64(processCPU(b)-start) / float64(time.Since(t0))
}

// BenchmarkSessionCPU measures what one more session costs the whole loopback system (the
// node's forwarding and the receiving peer, both in this process) while a publisher sends
// three layers of about 2.4, 0.8 and 0.26 Mbit/s plus audio: a viewer (one layer) and a
// relay subscriber (every layer) on the origin, and a whole relay (the origin's relay
// subscriber, the edge's relay client and its republishing, no edge viewers). Reported as
// CPU-milliseconds per second per session (ms/s); one iteration is one 3 s window.
//
//	go test -run '^$' -bench BenchmarkSessionCPU -benchtime 3x ./relay/
func BenchmarkSessionCPU(b *testing.B) {
	const sessions = 8
	for _, kind := range []string{"viewer", "relay-subscriber", "relay"} {
		b.Run(kind, func(b *testing.B) {
			ctx := testkit.Context(b, 5*time.Minute)
			r := newRoutes()
			a := startNode(b, r, "a", time.Minute)
			pub := startSimPublisher(b, ctx, a.WHIP("cost"))
			pub.packets = map[string]int{"h": 9, "m": 3, "l": 1}
			streaming(b, ctx, pub)
			waitLayers(b, ctx, a, "cost")
			time.Sleep(time.Second)
			base := cpuPerSecond(b)
			for i := range sessions {
				addCostSession(b, ctx, r, a, kind, i)
			}
			time.Sleep(time.Second)
			b.ResetTimer()
			var total float64
			out, t0 := a.SFU.Totals().BytesOut, time.Now()
			for range b.N {
				total += cpuPerSecond(b) - base
			}
			sent := float64(a.SFU.Totals().BytesOut-out) * 8 / time.Since(t0).Seconds()
			b.ReportMetric(1000*total/float64(b.N)/sessions, "ms/s/session")
			b.ReportMetric(1000*base, "ms/s-base")
			b.ReportMetric(sent/sessions/1e6, "Mbit/s/session")
		})
	}
}

// addCostSession starts session i of kind on a.
func addCostSession(b *testing.B, ctx context.Context, r *routes, a *clusterNode, kind string, i int) {
	b.Helper()
	var sess *client.Session
	var err error
	switch kind {
	case "viewer":
		sess, err = client.Play(ctx, a.WHEP("cost"), client.Options{LoopbackOnly: true})
	case "relay-subscriber":
		sess, err = client.Play(ctx, a.WHEP("cost"), client.Options{LoopbackOnly: true, Token: secret},
			webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	case "relay":
		name := fmt.Sprintf("edge%d", i)
		edge := startNode(b, r, name, time.Minute)
		r.route(name, "cost", "a")
		release, err := edge.Relays.Prepare(ctx, "cost", 0)
		if err != nil {
			b.Fatalf("relay to %s: %v", name, err)
		}
		b.Cleanup(release)
		return
	}
	if err != nil {
		b.Fatalf("%s: %v", kind, err)
	}
	b.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		b.Fatal(err)
	}
}
