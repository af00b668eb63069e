package ingest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// TestBadInputLeavesOtherStreamsAlone: while a good RTMP stream plays to a viewer, garbage,
// a truncated handshake, an oversized chunk size, a stream without keyframes, UDP garbage,
// a stalled SRT peer and random bytes over SRT each end their own connection with a log
// line; the good stream never pauses and no goroutine outlives the test (TestMain's goleak).
func TestBadInputLeavesOtherStreamsAlone(t *testing.T) {
	ctx := testkit.Context(t, 90*time.Second)
	e := newEnv(t, nil)
	_, v := e.publishAndPlay(t, ctx, "good", false, "-c:a", "aac", "-t", "40", "-f", "flv", e.rtmp+"/live/good")
	testkit.Eventually(t, ctx, "the good stream at the viewer", func() bool { return frames(v.Packets("video")) >= 15 })

	stalls := make(chan time.Duration, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	go func() { stalls <- longestStall(watchCtx, v) }()

	rtmpAddr := e.ingest.RTMPAddr().String()
	var wg sync.WaitGroup
	for _, bad := range []func(){
		func() { garbageTCP(t, rtmpAddr) },
		func() { truncatedHandshake(t, rtmpAddr) },
		func() { oversizedChunk(t, ctx, e.rtmp+"/live/chunky") },
		func() { neverKeyframe(t, ctx, e.rtmp+"/live/nokey") },
		func() { garbageUDP(t, e.srtPort) },
	} {
		wg.Go(bad)
	}
	slt := testkit.RequireTool(t, "srt-live-transmit")
	stall := testkit.StartShell(t, testkit.ProcOptions{}, fmt.Sprintf("sleep 30 | %s -q -t:20 file://con 'srt://127.0.0.1:%d?streamid=publish:stall&mode=caller'", slt, e.srtPort))
	junk := testkit.StartShell(t, testkit.ProcOptions{}, fmt.Sprintf("head -c 6000000 /dev/urandom | %s -q -t:20 -chunk:1316 file://con 'srt://127.0.0.1:%d?streamid=publish:junk&mode=caller'", slt, e.srtPort))
	wg.Wait()

	for _, want := range [][]string{
		{"connection ended", "conn=rtmp-", "rtmp handshake"},              // garbage
		{"connection ended", "conn=rtmp-", "idle: no handshake or media"}, // truncated handshake
		{"connection ended", "room=chunky", "chunk size (2147483647) exceeds"},
		{"connection ended", "room=nokey", "no keyframe within"},
		{"connection ended", "room=stall", "peer stalled"},
		{"connection ended", "room=junk", "mpeg-ts"},
	} {
		e.Logs.WaitFor(t, ctx, want...)
	}
	stall.Kill()
	junk.Kill()
	for _, room := range []string{"chunky", "nokey", "stall", "junk"} {
		if info, ok := e.SFU.Room(room); ok && info.Live {
			t.Errorf("bad stream's room %s went live", room)
		}
	}
	testkit.Eventually(t, ctx, "only the good stream left", func() bool {
		st := e.ingest.Status()
		return len(st) == 1 && st[0].Room == "good"
	})
	stopWatch()
	if d := <-stalls; d > 1500*time.Millisecond {
		t.Errorf("the good stream paused for %s during the bad input", d)
	}
}

// longestStall measures the longest time the viewer went without a new video frame.
func longestStall(ctx context.Context, v *testnode.Received) time.Duration {
	last, n, worst := time.Now(), frames(v.Packets("video")), time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return worst
		case <-time.After(50 * time.Millisecond):
		}
		if m := frames(v.Packets("video")); m != n {
			n, last = m, time.Now()
		}
		worst = max(worst, time.Since(last))
	}
}

// garbageTCP sends random bytes and expects the server to hang up.
func garbageTCP(t *testing.T, addr string) {
	junk := make([]byte, 8192)
	for i := range junk {
		junk[i] = byte(rand.Uint32())
	}
	junk[0] = 3 // get past the version byte into the handshake proper
	sendExpectingHangup(t, addr, "garbage", junk)
}

// truncatedHandshake sends C0 and half of C1, then nothing.
func truncatedHandshake(t *testing.T, addr string) {
	sendExpectingHangup(t, addr, "truncated handshake", append([]byte{3}, make([]byte, 700)...))
}

// sendExpectingHangup connects to addr over TCP, sends b and expects the server to hang up.
func sendExpectingHangup(t *testing.T, addr, what string, b []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	_, _ = c.Write(b)
	expectHangup(t, c, what)
}

func expectHangup(t *testing.T, c net.Conn, what string) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c) // nil at EOF; a reset is a hang-up too
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("%s: the server did not close the connection: %v", what, err)
	}
}

// oversizedChunk connects properly, then announces a 2 GiB chunk size.
func oversizedChunk(t *testing.T, ctx context.Context, rawURL string) {
	c := rtmpClient(t, ctx, rawURL)
	if c == nil {
		return
	}
	defer c.Close()
	_ = c.Write(&message.SetChunkSize{Value: 0x7fffffff})
	_ = c.Write(&message.Video{ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecH264, Type: message.VideoTypeAU, AU: make([]byte, 300)})
	expectHangup(t, c.NetConn(), "oversized chunk size")
}

// neverKeyframe publishes H.264 whose frames are never IDRs.
func neverKeyframe(t *testing.T, ctx context.Context, rawURL string) {
	c := rtmpClient(t, ctx, rawURL)
	if c == nil {
		return
	}
	defer c.Close()
	track := &gortmplib.Track{Codec: &codecs.H264{}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		t.Errorf("never-keyframe writer: %v", err)
		return
	}
	for i := 0; i < 300; i++ {
		pts := time.Duration(i) * time.Second / 30
		if err := w.WriteH264(track, pts, pts, [][]byte{{0x41, 0x9a, byte(i), 0x10}}); err != nil {
			return // closed by the server
		}
		time.Sleep(time.Second / 30)
	}
	t.Error("never-keyframe stream was not closed")
}

func rtmpClient(t *testing.T, ctx context.Context, rawURL string) *gortmplib.Client {
	u, _ := url.Parse(rawURL)
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		t.Errorf("rtmp client %s: %v", rawURL, err)
		return nil
	}
	return c
}

// garbageUDP throws random datagrams at the SRT port.
func garbageUDP(t *testing.T, port int) {
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	for i := 0; i < 500; i++ {
		b := make([]byte, 1+rand.IntN(1400))
		for j := range b {
			b[j] = byte(rand.Uint32())
		}
		if i%2 == 0 {
			b[0] = 0x80 // a control packet, as a handshake would be
		}
		_, _ = c.Write(b)
		time.Sleep(2 * time.Millisecond)
	}
}
