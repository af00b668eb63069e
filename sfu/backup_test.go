package sfu_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// Backup ingest against real pion peers: a primary and a backup WHIP publisher of one room,
// a viewer that records when each frame arrives and whose it is (the payload's counter:
// the backup's frames count from backupBase).

const backupBase = 20000

// frameLog is a viewer's video frames: arrival time and the publisher's counter.
type frameLog struct {
	mu     sync.Mutex
	at     []time.Time
	count  []int
	ssrcs  map[uint32]bool
	tracks atomic.Int32
}

func (l *frameLog) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	l.tracks.Add(1)
	if track.Kind() != webrtc.RTPCodecTypeVideo {
		for {
			if _, _, err := track.ReadRTP(); err != nil {
				return
			}
		}
	}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		n := frameCounter(pkt.Payload)
		l.mu.Lock()
		l.at, l.count = append(l.at, time.Now()), append(l.count, n)
		l.ssrcs[pkt.SSRC] = true
		l.mu.Unlock()
	}
}

// frameCounter reads the counter of testnode.KeyframePayload or DeltaPayload.
func frameCounter(p []byte) int {
	if len(p) >= 6 && p[0] == 0x67 {
		return int(p[4])<<8 | int(p[5])
	}
	if len(p) >= 3 {
		return int(p[1])<<8 | int(p[2])
	}
	return -1
}

// primaryFrames counts the primary's frames from twoSources (counters from 1).
func (l *frameLog) primaryFrames() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.count {
		if c > 0 && c < backupBase {
			n++
		}
	}
	return n
}

// lastFrom returns the arrival of the newest frame of the backup (backup) or the primary.
func (l *frameLog) lastFrom(backup bool) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.at) - 1; i >= 0; i-- {
		if (l.count[i] >= backupBase) == backup {
			return l.at[i], true
		}
	}
	return time.Time{}, false
}

// switchGap finds the first frame of the other source after after, and returns the time
// between it and the frame before it (the picture's gap), and when it arrived.
func (l *frameLog) switchGap(after time.Time, toBackup bool) (gap time.Duration, at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 1; i < len(l.at); i++ {
		if l.at[i].After(after) && (l.count[i] >= backupBase) == toBackup {
			return l.at[i].Sub(l.at[i-1]), l.at[i], true
		}
	}
	return 0, time.Time{}, false
}

// twoSources sends 30 fps from the primary (while primaryOn) and, from the third frame on, the
// backup, a keyframe every 15 frames, until ctx ends.
func twoSources(ctx context.Context, primary, backup *testnode.Publisher, primaryOn *atomic.Bool) {
	t := time.NewTicker(33 * time.Millisecond)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		frame := func(n int) []byte {
			if i%15 == 0 {
				return testnode.KeyframePayload(n)
			}
			return testnode.DeltaPayload(n)
		}
		if primaryOn.Load() {
			_ = primary.WriteVideo(frame(i%backupBase), true)
			_ = primary.WriteAudio(testnode.AudioPayload(i))
		}
		if i >= 3 { // the primary's media is fresh when the backup's starts: no switch at the start
			_ = backup.WriteVideo(frame(backupBase+i%10000), true)
			_ = backup.WriteAudio(testnode.AudioPayload(i))
		}
	}
}

// sendBoth runs twoSources until the test ends and waits for the primary's frames at the
// viewer; the primary sends while the returned flag is set.
func sendBoth(t *testing.T, ctx context.Context, primary, backup *testnode.Publisher, log *frameLog) *atomic.Bool {
	t.Helper()
	var primaryOn atomic.Bool
	primaryOn.Store(true)
	sendCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go twoSources(sendCtx, primary, backup, &primaryOn)
	testkit.Eventually(t, ctx, "10 of the primary's frames at the viewer, both publishers sending", func() bool { return log.primaryFrames() >= 10 })
	return &primaryOn
}

func startBackupRoom(t *testing.T, ctx context.Context, hold time.Duration) (*testnode.Node, *testnode.Publisher, *testnode.Publisher, *frameLog) {
	t.Helper()
	n := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) {
		o.Backup = sfu.BackupOptions{Enabled: true, Stall: 500 * time.Millisecond, Hold: hold}
	}})
	primary := n.Publish(t, ctx, "show")
	log := &frameLog{ssrcs: map[uint32]bool{}}
	viewer, err := client.Play(ctx, n.WHEP("show"), client.Options{LoopbackOnly: true, OnTrack: log.onTrack})
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	t.Cleanup(func() { _ = viewer.Close(context.Background()) })
	if err := viewer.Connected(ctx); err != nil {
		t.Fatalf("viewer connect: %v", err)
	}
	backup := testnode.StartPublisher(t, ctx, n.WHIP("show"), client.Options{})
	if info, _ := n.SFU.Room("show"); info.Backup == nil || info.Backup.OnAir != sfu.SourcePrimary {
		t.Fatalf("room after the second publisher: backup %+v, want the primary on air and a standby", info.Backup)
	}
	return n, primary, backup, log
}

func TestBackupTakesOverAStalledPrimaryAndHandsBack(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	const hold = 1500 * time.Millisecond
	n, primary, backup, log := startBackupRoom(t, ctx, hold)
	primaryOn := sendBoth(t, ctx, primary, backup, log)

	time.Sleep(500 * time.Millisecond)
	if _, ok := log.lastFrom(true); ok {
		t.Fatal("a standby backup's frame reached the viewer while the primary was on air")
	}

	stalled := time.Now()
	primaryOn.Store(false)
	var gap time.Duration
	testkit.Eventually(t, ctx, "the backup's frames after the primary stalled", func() bool {
		g, _, ok := log.switchGap(stalled, true)
		gap = g
		return ok
	})
	t.Logf("switch to the backup: %v without video at the viewer (stall threshold 500ms)", gap)
	if gap >= time.Second {
		t.Errorf("switch to the backup left %v without video, want < 1s", gap)
	}
	if info, _ := n.SFU.Room("show"); info.Backup == nil || info.Backup.OnAir != sfu.SourceBackup || !info.Live {
		t.Errorf("room after the stall: live %v backup %+v, want the backup on air", info.Live, info.Backup)
	}
	time.Sleep(1500 * time.Millisecond) // the primary is silent for 2 s in all

	back := time.Now()
	primaryOn.Store(true)
	var backAt time.Time
	testkit.Eventually(t, ctx, "the primary back on air after the hold", func() bool {
		g, at, ok := log.switchGap(back, false)
		gap, backAt = g, at
		return ok
	})
	t.Logf("switch back to the primary %v after it returned (hold %v), %v without video", backAt.Sub(back), hold, gap)
	if backAt.Sub(back) < hold-100*time.Millisecond {
		t.Errorf("the primary went back on air %v after it returned, before the %v hold", backAt.Sub(back), hold)
	}
	if gap >= time.Second {
		t.Errorf("switch back left %v without video, want < 1s", gap)
	}
	log.mu.Lock()
	ssrcs := len(log.ssrcs)
	log.mu.Unlock()
	if ssrcs != 1 || log.tracks.Load() != 2 {
		t.Errorf("viewer saw %d video SSRCs and %d tracks, want 1 and 2 (no renegotiation)", ssrcs, log.tracks.Load())
	}
}

func TestBackupContinuesWhenThePrimaryLeaves(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	n, primary, backup, log := startBackupRoom(t, ctx, time.Hour)
	primaryOn := sendBoth(t, ctx, primary, backup, log)

	left := time.Now()
	primaryOn.Store(false)
	if err := primary.Session.Close(ctx); err != nil {
		t.Fatalf("primary leaves: %v", err)
	}
	var gap time.Duration
	testkit.Eventually(t, ctx, "the backup's frames after the primary left", func() bool {
		g, _, ok := log.switchGap(left, true)
		gap = g
		return ok
	})
	t.Logf("primary left: %v without video", gap)
	if gap >= time.Second {
		t.Errorf("primary left: %v without video, want < 1s", gap)
	}
	testkit.Eventually(t, ctx, "the backup as the room's only publisher", func() bool {
		info, _ := n.SFU.Room("show")
		return info.Live && info.Backup == nil
	})
	// The backup is now the primary: a new publisher stands by behind it.
	testnode.StartPublisher(t, ctx, n.WHIP("show"), client.Options{})
	if info, _ := n.SFU.Room("show"); info.Backup == nil || info.Backup.OnAir != sfu.SourcePrimary {
		t.Errorf("a third publisher: backup %+v, want it standing by", info.Backup)
	}
}

func TestBackupRefusedWhenRoomHasBoth(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n, _, _, _ := startBackupRoom(t, ctx, time.Hour)
	_, err := testnode.TryPublisher(ctx, n.WHIP("show"), client.Options{})
	if err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("a third publisher: %v, want 409 (a primary and a backup already)", err)
	}
}

func TestSetSourceSwitchesByHand(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	n, primary, backup, log := startBackupRoom(t, ctx, 200*time.Millisecond)
	sendBoth(t, ctx, primary, backup, log)

	if err := n.SFU.SetSource("show", "sideways"); err != sfu.ErrBadSource {
		t.Errorf("SetSource(sideways) = %v, want ErrBadSource", err)
	}
	chose := time.Now()
	if err := n.SFU.SetSource("show", sfu.SourceBackup); err != nil {
		t.Fatalf("SetSource(backup): %v", err)
	}
	testkit.Eventually(t, ctx, "the backup on air by hand", func() bool { _, _, ok := log.switchGap(chose, true); return ok })
	time.Sleep(time.Second) // well past the 200 ms hold: a chosen backup stays
	if at, _ := log.lastFrom(false); at.After(chose.Add(300 * time.Millisecond)) {
		t.Errorf("the primary came back on air at %v although the backup was chosen", at.Sub(chose))
	}
	chose = time.Now()
	if err := n.SFU.SetSource("show", sfu.SourcePrimary); err != nil {
		t.Fatalf("SetSource(primary): %v", err)
	}
	testkit.Eventually(t, ctx, "the primary on air by hand", func() bool { _, _, ok := log.switchGap(chose, false); return ok })
}
