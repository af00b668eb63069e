package sfu_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

func TestViewersGetSenderReportsPerDowntrack(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	pub := srv.Publish(t, ctx, "sr")
	streamCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	answerPLIs(t, streamCtx, srv, pub, &wg)
	defer func() { stop(); wg.Wait() }()

	var videoSSRC atomic.Uint32
	var reports atomic.Int32
	opts := client.Options{LoopbackOnly: true, OnTrack: func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		if track.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		videoSSRC.Store(uint32(track.SSRC()))
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := track.Read(buf); err != nil {
					return
				}
			}
		}()
		for {
			pkts, _, err := receiver.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == videoSSRC.Load() && sr.PacketCount > 0 {
					reports.Add(1)
				}
			}
		}
	}}
	sess, err := client.Play(ctx, srv.WHEP("sr"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	testkit.Eventually(t, ctx, "a sender report for the video downtrack", func() bool { return reports.Load() > 0 })
}
