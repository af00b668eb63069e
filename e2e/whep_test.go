package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
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
				for _, typ := range h264NALTypes(pkt.Payload) {
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

// h264NALTypes returns the NAL unit types an H.264 RTP payload (RFC 6184) carries: a single NAL
// unit, each unit of a STAP-A, or the unit a FU-A starts (none for a FU-A continuation).
func h264NALTypes(payload []byte) []uint8 {
	if len(payload) == 0 {
		return nil
	}
	switch typ := payload[0] & 0x1f; {
	case typ >= 1 && typ <= 23:
		return []uint8{typ}
	case typ == 24: // STAP-A: [header] then (16-bit size, NAL unit)*
		var types []uint8
		for off := 1; off+2 < len(payload); {
			size := int(binary.BigEndian.Uint16(payload[off:]))
			off += 2
			if size == 0 || off+size > len(payload) {
				break
			}
			types = append(types, payload[off]&0x1f)
			off += size
		}
		return types
	case typ == 28: // FU-A: [indicator][header: S E R type]
		if len(payload) >= 2 && payload[1]&0x80 != 0 {
			return []uint8{payload[1] & 0x1f}
		}
	}
	return nil
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

func TestH264NALTypes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		want    []uint8
	}{
		{"empty", nil, nil},
		{"single IDR", []byte{0x65, 0x88}, []uint8{5}},
		{"single non-IDR", []byte{0x41, 0x9a}, []uint8{1}},
		{"STAP-A SPS PPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, []uint8{7, 8}},
		{"STAP-A truncated", []byte{0x78, 0, 2, 0x67, 0x42, 0, 9, 0x68}, []uint8{7}},
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0xb8}, []uint8{5}},
		{"FU-A middle", []byte{0x7c, 0x05, 0xb8}, nil},
		{"reserved type", []byte{0x1e}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := h264NALTypes(tc.payload)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("h264NALTypes(% x) = %v, want %v", tc.payload, got, tc.want)
			}
		})
	}
}
