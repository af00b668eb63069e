package signaling_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

func TestViewerOverICETCP(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) { o.Transport.ICETCP = true }})
	pub := srv.Publish(t, ctx, "tcp")
	rec := testnode.NewReceived()
	opts := client.Options{LoopbackOnly: true, OnTrack: testnode.RecordTrack(rec), SettingEngine: func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}}
	sess, err := client.Play(ctx, srv.WHEP("tcp"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("ICE-TCP viewer did not connect: %v", err)
	}
	testkit.Eventually(t, ctx, "video over ICE-TCP", func() bool {
		pub.SendVideo(t, testnode.KeyframePayload(3), true)
		return rec.Count("video") > 3
	})
	pair, err := sess.PeerConnection().GetReceivers()[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
}

func TestPublicIPAndICEServerLinks(t *testing.T) {
	srv := testnode.Start(t, testnode.Options{
		SFU: func(o *sfu.Options) { o.Transport.PublicIPs = []string{"203.0.113.7"} },
		Signaling: func(o *signaling.Options) {
			o.ICEServers = []string{"stun:stun.example.org:3478", "turn:turn.example.org?transport=udp"}
		},
	})
	req, _ := http.NewRequest(http.MethodOptions, srv.WHIP("nat"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	links := resp.Header.Values("Link")
	if resp.StatusCode != http.StatusNoContent || len(links) != 2 || !strings.Contains(links[0], `<stun:stun.example.org:3478>; rel="ice-server"`) {
		t.Fatalf("OPTIONS: %d Link %q", resp.StatusCode, links)
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Location") {
		t.Fatalf("Location not exposed to browsers: %q", got)
	}

	// A sendonly offer without candidates: the server answers but never sends to anyone.
	offer := strings.ReplaceAll(testkit.PionOffer(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio), "a=recvonly", "a=sendonly")
	resp, answer := testnode.PostOffer(t, srv.WHIP("nat"), offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish: %d %s", resp.StatusCode, answer)
	}
	defer func() {
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+resp.Header.Get("Location"), nil)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	}()
	if !strings.Contains(answer, " 203.0.113.7 ") || strings.Contains(answer, " 127.0.0.1 ") {
		t.Fatalf("answer does not announce the public IP instead of the local one:\n%s", answer)
	}
	if len(resp.Header.Values("Link")) != 2 || resp.Header.Get("ETag") == "" {
		t.Fatalf("201 lacks Link or ETag headers: %v", resp.Header)
	}
}

func TestSessionsReleaseGoroutinesAndMemory(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	// No t.Cleanup in a cycle: the test must not itself keep the sessions alive.
	cycle := func() {
		pub, err := testnode.TryPublisher(ctx, srv.WHIP("cycle"), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pub.GoLive(t, ctx, srv, "cycle")
		rec := testnode.NewReceived()
		viewer, err := client.Play(ctx, srv.WHEP("cycle"), client.Options{LoopbackOnly: true, OnTrack: testnode.RecordTrack(rec)})
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, ctx, "media", func() bool {
			pub.SendVideo(t, testnode.KeyframePayload(1), true)
			return rec.Count("video") > 0
		})
		_ = viewer.Close(ctx)
		_ = pub.Session.Close(ctx)
		testkit.Eventually(t, ctx, "sessions gone", func() bool {
			tot := srv.SFU.Totals()
			return tot.Publishers == 0 && tot.Viewers == 0 && tot.Rooms == 0
		})
	}
	cycle()
	runtime.GC()
	baseG := runtime.NumGoroutine()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	for range 30 {
		cycle()
	}
	testkit.Eventually(t, ctx, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseG })
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapInuse) - int64(base.HeapInuse)
	t.Logf("goroutines %d→%d, heap in use %d→%d KiB after 30 publish/play/DELETE cycles", baseG, runtime.NumGoroutine(), base.HeapInuse>>10, after.HeapInuse>>10)
	if growth > 8<<20 {
		t.Fatalf("heap grew by %d KiB over 30 cycles", growth>>10)
	}
}
