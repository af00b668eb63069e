package sfu_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
)

// vp8Numbered sends three VP8 simulcast layers at 30 fps whose payload descriptors number
// pictures the way independent encoders do (RFC 7741): each layer its own 15-bit PictureID
// and TL0PICIDX, far apart (one near the wrap). The last payload byte is the layer's rid.
func vp8Numbered(ctx context.Context, layers map[string]*webrtc.TrackLocalStaticRTP, wg *sync.WaitGroup) {
	picBase := map[string]int{"l": 32700, "m": 5, "h": 17000}
	tl0Base := map[string]int{"l": 250, "m": 0, "h": 100}
	wg.Add(1)
	go func() {
		defer wg.Done()
		seq := map[string]uint16{"l": 1, "m": 20000, "h": 50000}
		tk := time.NewTicker(33 * time.Millisecond)
		defer tk.Stop()
		for frame := 1; ; frame++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			for _, rid := range []string{"l", "m", "h"} {
				pic, tl0 := (picBase[rid]+frame)&0x7fff, (tl0Base[rid]+frame)&0xff
				// X, S; I and L; 15-bit PictureID; TL0PICIDX; VP8 frame tag (P bit: delta).
				payload := []byte{0x90, 0xc0, 0x80 | byte(pic>>8), byte(pic), byte(tl0), 0x01, 0, 0, rid[0]}
				if frame%10 == 0 {
					payload[5] = 0x00 // keyframe
				}
				seq[rid]++
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq[rid], Timestamp: uint32(frame) * 3000}, Payload: payload}
				_ = pkt.Header.SetExtension(1, []byte("0"))
				_ = pkt.Header.SetExtension(2, []byte(rid))
				_ = layers[rid].WriteRTP(pkt)
			}
		}
	}()
}

func TestVP8PictureIDsStayContinuousAcrossLayerSwitches(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	streamCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	vp8Numbered(streamCtx, simulcastPublisher(t, ctx, srv.WHIP("vp8num")), &wg)
	testkit.Eventually(t, ctx, "three layers in the room", func() bool {
		info, ok := srv.SFU.Room("vp8num")
		return ok && info.Live && len(info.Tracks) == 1 && len(info.Tracks[0].Layers) == 3
	})
	viewer, rec := srv.Play(t, ctx, "vp8num")
	testkit.Eventually(t, ctx, "layer h", func() bool { return lastLayer(rec) == 'h' })
	for _, layer := range []string{"l", "m", "h", "l"} {
		setLayer(t, viewer.Location(), layer)
		testkit.Eventually(t, ctx, "layer "+layer, func() bool { return lastLayer(rec) == layer[0] })
		n := rec.Count("video")
		testkit.Eventually(t, ctx, "frames on layer "+layer, func() bool { return rec.Count("video") >= n+15 })
	}

	got, seqs := rec.Snapshot("video")
	switches, pictures := 0, 0
	var highest uint16
	var lastPic, lastTL0 int
	for i, p := range got {
		if len(p) < 9 || p[0]&0x80 == 0 || p[1]&0xc0 != 0xc0 {
			t.Fatalf("packet %d lost its descriptor fields: % x", i, p)
		}
		pic, tl0 := int(p[2]&0x7f)<<8|int(p[3]), int(p[4])
		if i > 0 && !media.SeqNewer(seqs[i], highest) {
			continue // a repair of a lost packet: arrived late, numbered as before
		}
		highest = seqs[i]
		if i > 0 {
			if p[len(p)-1] != got[i-1][len(got[i-1])-1] {
				switches++
			}
			// Each packet is one picture: the numbers go up by one (by a few if a picture was lost).
			if d := (pic - lastPic) & 0x7fff; d < 1 || d > 3 {
				t.Fatalf("packet %d (layer %c): PictureID %d after %d, want the next one", i, p[len(p)-1], pic, lastPic)
			}
			if d := (tl0 - lastTL0) & 0xff; d < 1 || d > 3 {
				t.Fatalf("packet %d (layer %c): TL0PICIDX %d after %d, want the next one", i, p[len(p)-1], tl0, lastTL0)
			}
		}
		lastPic, lastTL0 = pic, tl0
		pictures++
	}
	if switches < 4 {
		t.Fatalf("%d layer switches seen, want at least 4", switches)
	}
	t.Logf("%d pictures, %d layer switches, PictureIDs continuous", pictures, switches)
}
