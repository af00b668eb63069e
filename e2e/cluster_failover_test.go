package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
)

const failoverSecret = "e2e-failover-secret-0123"

// clusterNode starts one glint serve of a failover cluster: a 2 s lease (a dead origin's rooms
// are free again within 2 s), the cluster secret, and room "finals" under publisher policy backup.
func clusterNode(t *testing.T, redisURL, id string, extra ...string) *server {
	args := []string{"--redis", redisURL, "--node-id", id, "--cluster-secret", failoverSecret,
		"--public-url", "http://127.0.0.1:{http}", "--cluster-lease", "2s", "--publisher-room-policy", "finals=backup"}
	return startServer(t, append(args, extra...)...)
}

// failoverRoom is the part of GET /api/rooms/{room} these tests read.
type failoverRoom struct {
	Live    bool `json:"live"`
	Relayed bool `json:"relayed"`
	Backup  *struct {
		OnAir    string `json:"on_air"`
		Standby  string `json:"standby"`
		PushedTo string `json:"pushed_to"`
	} `json:"backup"`
}

func (s *server) failoverRoom(t *testing.T, room string) failoverRoom {
	t.Helper()
	var info failoverRoom
	resp, err := httpClient.Get(s.url("/api/rooms/" + room))
	if err != nil {
		return info
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&info)
	}
	return info
}

// frameClock records when one viewer's video packets and keyframes arrive.
type frameClock struct {
	mu        sync.Mutex
	packets   []time.Time
	keyframes []time.Time
}

func (f *frameClock) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if tr.Kind() != webrtc.RTPCodecTypeVideo || len(p.Payload) == 0 {
			continue
		}
		now := time.Now()
		f.mu.Lock()
		f.packets = append(f.packets, now)
		if media.IsKeyframeStart(webrtc.MimeTypeH264, p.Payload) {
			f.keyframes = append(f.keyframes, now)
		}
		f.mu.Unlock()
	}
}

// after counts the packets after t and returns the first keyframe after t (zero if none).
func (f *frameClock) after(t time.Time) (packets int, firstKey time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, at := range f.packets {
		if at.After(t) {
			packets++
		}
	}
	for _, at := range f.keyframes {
		if at.After(t) {
			return packets, at
		}
	}
	return packets, time.Time{}
}

// lastBefore is the last packet's arrival before t.
func (f *frameClock) lastBefore(t time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var last time.Time
	for _, at := range f.packets {
		if at.Before(t) {
			last = at
		}
	}
	return last
}

// longestGap is the longest time without a video packet from from to the newest packet.
func (f *frameClock) longestGap(from time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var longest time.Duration
	prev := from
	for _, at := range f.packets {
		if at.Before(from) {
			continue
		}
		longest = max(longest, at.Sub(prev))
		prev = at
	}
	return longest
}

// playFrom starts a WHEP viewer on s (retried while the room's relay comes up).
func playFrom(t *testing.T, ctx context.Context, s *server, room string, fc *frameClock) *client.Session {
	t.Helper()
	var sess *client.Session
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		sess, err = client.Play(ctx, s.url("/whep/"+room), client.Options{LoopbackOnly: true, OnTrack: fc.onTrack})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("WHEP on %s: %v", s.base, err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	return sess
}

// TestClusterOriginFailover: the origin A of a backup room is killed (SIGKILL) while a backup
// publisher is kept on node C (not redirected: pushed to A as its standby). A's lease lapses,
// C takes the room and puts its standby on air, and the viewers on edge B — each one
// PeerConnection, never re-requested — resume receiving keyframe-started video within 5 s.
func TestClusterOriginFailover(t *testing.T) {
	originHandOver(t, "kill -9 of the origin", 8*time.Second, func(a *server) {
		a.killed = true
		a.proc.Kill()
	})
}

// TestClusterDrainHandsTheOriginOver: `POST /api/drain` on the origin with a backup pushed from
// another node: the drain ends the origin's sessions at the end of its period, the backup's
// node takes the room and edge viewers go on with the same sessions, as after a kill.
func TestClusterDrainHandsTheOriginOver(t *testing.T) {
	originHandOver(t, "drain of the origin", 12*time.Second, func(a *server) {
		resp, err := http.Post(a.url("/api/drain"), "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST /api/drain: %s", resp.Status)
		}
	}, "--drain-period", "2s")
}

// originHandOver publishes room finals on node A with a backup WHIP publisher kept on node C
// (pushed to A), plays it from node B through a relay, then ends A's origin with end, and
// checks that B's viewers resume within limit on their same sessions, with C as the origin.
func originHandOver(t *testing.T, what string, limit time.Duration, end func(a *server), extraA ...string) {
	srv := redistest.Start(t, "")
	a := clusterNode(t, srv.URL(), "node-a", extraA...)
	b, c := clusterNode(t, srv.URL(), "node-b"), clusterNode(t, srv.URL(), "node-c")
	ctx := testkit.Context(t, 120*time.Second)
	primary := testnode.StartPublisher(t, ctx, a.url("/whip/finals"), client.Options{})
	go primary.Feed(ctx)
	a.waitRoom(t, "finals", 15*time.Second, "live on A", func(r roomInfo) bool { return r.Live })

	backup := testnode.StartPublisher(t, ctx, c.url("/whip/finals"), client.Options{})
	if loc := backup.Session.Location(); !strings.HasPrefix(loc, c.base) {
		t.Fatalf("the backup's WHIP resource is %s, want it kept on node C (%s), not redirected", loc, c.base)
	}
	go backup.Feed(ctx)
	testkit.Eventually(t, ctx, "C keeps the backup pushed to A, A holds it as its standby", func() bool {
		onC, onA := c.failoverRoom(t, "finals"), a.failoverRoom(t, "finals")
		return onC.Backup != nil && onC.Backup.PushedTo == "node-a" && onA.Backup != nil && onA.Backup.OnAir == "primary"
	})

	const viewers = 3
	clocks := make([]*frameClock, viewers)
	sessions := make([]*client.Session, viewers)
	for i := range clocks {
		clocks[i] = &frameClock{}
		sessions[i] = playFrom(t, ctx, b, "finals", clocks[i])
	}
	testkit.Eventually(t, ctx, "video on every viewer of B", func() bool {
		for _, fc := range clocks {
			if n, _ := fc.after(time.Time{}); n < 50 {
				return false
			}
		}
		return true
	})

	end(a)
	killed := time.Now()
	testkit.Eventually(t, ctx, "video again on every viewer of B after the "+what, func() bool {
		for _, fc := range clocks {
			if n, key := fc.after(killed); key.IsZero() || n < 25 {
				return false
			}
		}
		return true
	})
	for i, fc := range clocks {
		_, key := fc.after(killed)
		last := fc.lastBefore(killed)
		gap, sinceKill := key.Sub(last), key.Sub(killed)
		t.Logf("viewer %d, %s: gap %.2fs (last frame before → first keyframe after; %.2fs after it began; longest gap without video %.2fs)",
			i, what, gap.Seconds(), sinceKill.Seconds(), fc.longestGap(killed.Add(-500*time.Millisecond)).Seconds())
		// The target is 5 s after a kill; the margin covers a loaded machine (a drain first
		// waits out its period).
		if sinceKill > limit {
			t.Errorf("viewer %d resumed %.1fs after the %s, want within %s", i, sinceKill.Seconds(), what, limit)
		}
		if st := sessions[i].PeerConnection().ConnectionState(); st != webrtc.PeerConnectionStateConnected {
			t.Errorf("viewer %d's PeerConnection is %s, want the same session still connected", i, st)
		}
	}
	onC := c.failoverRoom(t, "finals")
	if !onC.Live || onC.Relayed || onC.Backup != nil {
		t.Errorf("node C's room after the failover: %+v, want live from its own publisher, no standby", onC)
	}
	if relays := relaysOf(t, b); relays["finals"].Upstream != "node-c" {
		t.Errorf("node B's relay of finals: %+v, want it re-attached to node-c", relays["finals"])
	}
}

type relayInfo struct {
	Upstream string `json:"upstream"`
	Connects int    `json:"connects"`
}

func relaysOf(t *testing.T, s *server) map[string]relayInfo {
	t.Helper()
	out := map[string]relayInfo{}
	resp, err := httpClient.Get(s.url("/api/relays"))
	if err != nil {
		t.Fatalf("GET /api/relays: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET /api/relays: %v", err)
	}
	return out
}

// ffmpegRTMP publishes a 320x240 25 fps H.264 test picture without audio to rtmpAddr/live/room.
func ffmpegRTMP(t *testing.T, name, rtmpAddr, room string) *testkit.Proc {
	return testkit.StartProc(t, testkit.ProcOptions{Name: name}, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-an", "-t", "120", "-f", "flv", "rtmp://"+rtmpAddr+"/live/"+room)
}

// TestClusterRTMPToNonOwner: an RTMP publish (ffmpeg) to node C of a room that node A owns is
// pushed to A, and A's policy applies: in a reject room the push gets 409 and C ends the RTMP
// connection saying why; in a backup room it is A's standby and goes on air when the primary
// (ffmpeg over RTMP on A) stops, while a viewer on edge B keeps receiving on its one session.
func TestClusterRTMPToNonOwner(t *testing.T) {
	requireFFmpeg(t)
	srv := redistest.Start(t, "")
	rtmpA, rtmpC := "127.0.0.1:"+strconv.Itoa(freeTCPPort(t)), "127.0.0.1:"+strconv.Itoa(freeTCPPort(t))
	a := clusterNode(t, srv.URL(), "node-a", "--rtmp-addr", rtmpA)
	b := clusterNode(t, srv.URL(), "node-b")
	c := clusterNode(t, srv.URL(), "node-c", "--rtmp-addr", rtmpC)
	ctx := testkit.Context(t, 150*time.Second)

	// A reject room: the second publisher, on C, is refused by the owner.
	lobby := testnode.StartPublisher(t, ctx, a.url("/whip/lobby"), client.Options{})
	go lobby.Feed(ctx)
	a.waitRoom(t, "lobby", 15*time.Second, "live on A", func(r roomInfo) bool { return r.Live })
	refused := ffmpegRTMP(t, "ffmpeg rtmp lobby → C", rtmpC, "lobby")
	select {
	case <-refused.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("the RTMP publish of reject room lobby to node C still runs after 30 s; C's log ends:\n%s", testkit.Tail(c.proc.Stderr(), 3000))
	}
	if log := c.proc.Stderr(); !strings.Contains(log, "refused the push") || !strings.Contains(log, "409") {
		t.Errorf("node C does not log why it ended the RTMP publish; its log ends:\n%s", testkit.Tail(log, 3000))
	}
	if !a.failoverRoom(t, "lobby").Live {
		t.Errorf("room lobby is no longer live on A after the refused second publisher")
	}

	// A backup room: the primary on A (RTMP), the backup on C (RTMP) pushed to A as its standby.
	primary := ffmpegRTMP(t, "ffmpeg rtmp finals → A", rtmpA, "finals")
	a.waitRoom(t, "finals", 30*time.Second, "live on A", func(r roomInfo) bool { return r.Live })
	ffmpegRTMP(t, "ffmpeg rtmp finals → C", rtmpC, "finals")
	testkit.Eventually(t, ctx, "A holds C's RTMP push as its standby", func() bool {
		onC, onA := c.failoverRoom(t, "finals"), a.failoverRoom(t, "finals")
		return onC.Backup != nil && onC.Backup.PushedTo == "node-a" && onA.Backup != nil && onA.Backup.OnAir == "primary"
	})
	fc := &frameClock{}
	viewer := playFrom(t, ctx, b, "finals", fc)
	testkit.Eventually(t, ctx, "video on B's viewer", func() bool { n, _ := fc.after(time.Time{}); return n > 50 })
	primary.Kill()
	stopped := time.Now()
	testkit.Eventually(t, ctx, "video on B's viewer from the backup", func() bool {
		n, key := fc.after(stopped.Add(time.Second))
		return !key.IsZero() && n > 25
	})
	_, key := fc.after(stopped)
	t.Logf("backup switch (RTMP primary on A stopped, RTMP backup pushed from C): longest gap without video on B %.2fs; first keyframe %.2fs after the stop",
		fc.longestGap(stopped.Add(-500*time.Millisecond)).Seconds(), key.Sub(stopped).Seconds())
	if st := viewer.PeerConnection().ConnectionState(); st != webrtc.PeerConnectionStateConnected {
		t.Errorf("B's viewer PeerConnection is %s, want the same session still connected", st)
	}
	if onA := a.failoverRoom(t, "finals"); !onA.Live {
		t.Errorf("room finals on A after the primary stopped: %+v, want live from the backup", onA)
	}
}
