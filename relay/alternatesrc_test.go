package relay_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// The sources of an H.265 room with an alternate video, for the relay tests: a stand-in for
// the H.265 publisher (one single-NAL-unit IDR packet a frame: only its codec matters) and,
// as the origin's LL-HLS ladder would make it, a real H.264 alternate (ffmpeg's libx264
// baseline test pattern, an IDR a second), so that what a viewer of the relayed alternate
// gets can be decoded.

var (
	h265Codec = webrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}}
	h264Codec = webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: testnode.H264Codec()}
)

// hevcRoom is an H.265 room published on a node, with an alternate video while asked.
type hevcRoom struct {
	t    *testing.T
	ctx  context.Context
	sfu  *sfu.SFU
	name string
	// keyframeRequests counts the alternate's onKeyframe calls (its viewers' PLIs).
	keyframeRequests atomic.Int64

	mu      sync.Mutex
	stopPub func()
	stopAlt func()
}

// startHEVCRoom publishes room on n's SFU until the end of the test (or stopPublisher).
func startHEVCRoom(t *testing.T, ctx context.Context, n *clusterNode, room string) *hevcRoom {
	h := &hevcRoom{t: t, ctx: ctx, sfu: n.SFU, name: room}
	h.startPublisher()
	t.Cleanup(func() { h.stopAlternate(); h.stopPublisher() })
	n.WaitLive(t, ctx, room)
	return h
}

// startPublisher publishes the stand-in H.265 video: an IDR packet every 33 ms.
func (h *hevcRoom) startPublisher() {
	pub, err := h.sfu.PublishLocal(h.name, &h265Codec, nil, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		idr := []byte{19 << 1, 1, 0xaa, 0xbb} // an IDR_W_RADL single NAL unit packet
		for seq := uint16(1); ctx.Err() == nil; seq++ {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: idr}
			b, _ := pkt.Marshal()
			_ = pub.WriteRTP("video", b)
			select {
			case <-ctx.Done():
			case <-time.After(33 * time.Millisecond):
			}
		}
	})
	h.mu.Lock()
	h.stopPub = func() { cancel(); wg.Wait(); pub.Close() }
	h.mu.Unlock()
}

// stopPublisher ends the H.265 publisher (the room stops being live).
func (h *hevcRoom) stopPublisher() { h.runOnce(&h.stopPub) }

// runOnce calls *stop, if set, and clears it.
func (h *hevcRoom) runOnce(stop *func()) {
	h.mu.Lock()
	f := *stop
	*stop = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

// startAlternate publishes the room's alternate video: ffmpeg's H.264, packetized as a
// WebRTC sender would, one access unit (delimited by x264's AUDs) per RTP frame.
func (h *hevcRoom) startAlternate() {
	testkit.RequireTool(h.t, "ffmpeg")
	alt, err := h.sfu.PublishAlternate(h.name, h264Codec, func() { h.keyframeRequests.Add(1) })
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
		"-tune", "zerolatency", "-profile:v", "baseline", "-g", "30", "-bf", "0", "-x264-params", "aud=1",
		"-f", "h264", "-")
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		alt.Close()
		h.t.Fatalf("ffmpeg: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() {
			if ctx.Err() == nil {
				h.t.Errorf("ffmpeg, the alternate's source, ended: %s", stderr.String())
			}
		}()
		reader, err := h264reader.NewReader(out)
		if err != nil {
			return
		}
		packetizer := rtp.NewPacketizer(1200, 102, 0x1234, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
		var au []byte
		for {
			nal, err := reader.NextNAL()
			if err != nil {
				return
			}
			if nal.UnitType != h264reader.NalUnitTypeAUD {
				au = append(append(au, 0, 0, 0, 1), nal.Data...)
				continue
			}
			if len(au) == 0 {
				continue
			}
			for _, pkt := range packetizer.Packetize(au, 3000) {
				b, _ := pkt.Marshal()
				_ = alt.WriteRTP("video", b)
			}
			au = nil
		}
	})
	h.mu.Lock()
	h.stopAlt = func() { cancel(); _ = cmd.Wait(); wg.Wait(); alt.Close() }
	h.mu.Unlock()
}

// stopAlternate ends the alternate video (its ladder stopped).
func (h *hevcRoom) stopAlternate() { h.runOnce(&h.stopAlt) }

// checkDecodes has ffprobe decode the H.264 a viewer received (rec), from its first
// keyframe to its last complete frame: at least minFrames frames, every one decoded.
func checkDecodes(t *testing.T, ctx context.Context, who string, rec *testnode.Received, minFrames int) {
	t.Helper()
	pkts := rec.Packets("video")
	slices.SortFunc(pkts, func(a, b *rtp.Packet) int { return int(int16(a.SequenceNumber - b.SequenceNumber)) })
	pkts = slices.CompactFunc(pkts, func(a, b *rtp.Packet) bool { return a.SequenceNumber == b.SequenceNumber })
	for len(pkts) > 0 && !pkts[len(pkts)-1].Marker {
		pkts = pkts[:len(pkts)-1] // the frame still arriving when the recording was read
	}
	var stream bytes.Buffer
	w := h264writer.NewWith(&stream)
	frames, keyframeSeen := 0, false
	for _, p := range pkts {
		if err := w.WriteRTP(p); err != nil {
			t.Fatalf("%s: packet %d: %v", who, p.SequenceNumber, err)
		}
		keyframeSeen = keyframeSeen || stream.Len() > 0
		if keyframeSeen && p.Marker {
			frames++
		}
	}
	if frames < minFrames {
		t.Fatalf("%s: %d frames from the first keyframe (%d packets); want at least %d", who, frames, len(pkts), minFrames)
	}
	path := filepath.Join(t.TempDir(), "viewer.h264")
	if err := os.WriteFile(path, stream.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := testkit.ProbePacketStream(ctx, path, frames)
	if err != nil {
		t.Fatalf("%s: ffprobe of the H.264 received: %v", who, err)
	}
	if st.String() != "h264 320x240" || st.Frames < frames-1 {
		t.Fatalf("%s: ffprobe of the H.264 received: %s, %d of %d frames decoded; want h264 320x240, all", who, st, st.Frames, frames)
	}
	t.Logf("%s: %s, %d of %d frames decoded", who, st, st.Frames, frames)
}
