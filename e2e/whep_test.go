package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/media"
)

// rtpTally counts what a pion WHEP viewer receives.
type rtpTally struct {
	mu                   sync.Mutex
	videoMime, audioMime string
	video, audio         int           // RTP packets
	nalTypes             map[uint8]int // H.264 NAL unit types seen (inside STAP-A / FU-A too)
	changed              chan struct{} // closed and replaced on every packet
}

func newRTPTally() *rtpTally {
	return &rtpTally{nalTypes: map[uint8]int{}, changed: make(chan struct{})}
}

// onTrack is the viewer's client.Options.OnTrack: it reads the track until it ends.
func (c *rtpTally) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	mime := track.Codec().MimeType
	isH264 := strings.EqualFold(mime, webrtc.MimeTypeH264)
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		c.mu.Lock()
		switch track.Kind() {
		case webrtc.RTPCodecTypeVideo:
			c.video++
			c.videoMime = mime
			if isH264 {
				for _, typ := range media.H264PayloadNALTypes(pkt.Payload) {
					c.nalTypes[typ]++
				}
			}
		case webrtc.RTPCodecTypeAudio:
			c.audio++
			c.audioMime = mime
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// keyframe reports whether an IDR slice (5) or an SPS (7) was seen.
func (c *rtpTally) keyframe() bool { return c.nalTypes[5] > 0 || c.nalTypes[7] > 0 }

func (c *rtpTally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("video %s: %d packets, audio %s: %d packets, H.264 NAL types %v",
		c.videoMime, c.video, c.audioMime, c.audio, c.nalTypes)
}

// waitFor waits until cond (called with the lock held) holds, or fails the test.
func (c *rtpTally) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, changed := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("pion WHEP viewer: no %s within %v (%s)", what, timeout, c)
		}
	}
}

// playWHEP connects a pion WHEP viewer (loopback only) to whepURL; cleanup closes it (DELETE).
func playWHEP(t *testing.T, whepURL string) (*client.Session, *rtpTally) {
	t.Helper()
	tally := newRTPTally()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sess, err := client.Play(ctx, whepURL, client.Options{LoopbackOnly: true, OnTrack: tally.onTrack})
	if err != nil {
		t.Fatalf("pion WHEP viewer: %v", err)
	}
	t.Cleanup(func() { // Close is idempotent: a no-op after the test's own Close
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sess.Close(ctx)
	})
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("pion WHEP viewer: %v", err)
	}
	return sess, tally
}
