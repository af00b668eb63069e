package relay_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/relay"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// directoryLocator names a room's origin from the shared directory's publisher claim and the
// test's node URLs (what cmd/glint's cluster locator does with Redis and the registry).
type directoryLocator struct {
	dir  cluster.Directory
	mu   *sync.Mutex
	urls map[string]string
}

func (l directoryLocator) Origin(ctx context.Context, room string) (string, string, bool, error) {
	c, ok, err := l.dir.Owner(ctx, room, cluster.Publisher)
	if err != nil || !ok {
		return "", "", false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return c.Node, l.urls[c.Node], true, nil
}

// pushCluster is in-process nodes sharing one directory, each pushing the publishers it
// keeps for rooms owned elsewhere; room "finals" is a backup room, the others reject.
type pushCluster struct {
	dir  *cluster.Memory
	mu   sync.Mutex
	urls map[string]string
}

func (pc *pushCluster) start(t *testing.T, name string) *testnode.Node {
	t.Helper()
	dir := pc.dir.For(name)
	loc := directoryLocator{dir: dir, mu: &pc.mu, urls: pc.urls}
	pusher, err := relay.NewPusher(relay.PushOptions{Locator: loc, Directory: dir, NodeID: name, Secret: secret, LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	n := testnode.Start(t, testnode.Options{
		SFU: func(o *sfu.Options) {
			o.Directory, o.RemotePublisher = dir, pusher.Push
			o.Rooms = func(room string) config.RoomSettings {
				if room == "finals" {
					return config.RoomSettings{PublisherPolicy: config.PolicyBackup}
				}
				return config.RoomSettings{PublisherPolicy: config.PolicyReject}
			}
		},
		Signaling: func(o *signaling.Options) { o.ClusterSecret = secret },
	})
	pc.mu.Lock()
	pc.urls[name] = n.URL
	pc.mu.Unlock()
	return n
}

// TestPushToOwnerRejected: an in-process (RTMP/SRT-like) publisher of a reject room owned by
// another node is pushed there, refused with 409, and ended.
func TestPushToOwnerRejected(t *testing.T) {
	pc := &pushCluster{dir: cluster.NewMemory("a"), urls: map[string]string{}}
	a, c := pc.start(t, "a"), pc.start(t, "c")
	ctx := testkit.Context(t, 30*time.Second)
	primary := testnode.StartPublisher(t, ctx, a.WHIP("lobby"), client.Options{})
	go primary.Feed(ctx)
	a.WaitLive(t, ctx, "lobby")
	video := &webrtc.RTPCodecParameters{RTPCodecCapability: testnode.H264Codec(), PayloadType: 96}
	local, err := c.SFU.PublishLocal("lobby", video, nil, func() {})
	if err != nil {
		t.Fatalf("PublishLocal on a node that does not own the room: %v, want it kept and pushed", err)
	}
	select {
	case <-local.Context().Done():
	case <-ctx.Done():
		t.Fatal("the pushed publisher of a reject room was not ended")
	}
	if !c.Logs.Contains("refused the push") {
		t.Errorf("node c does not log why the publisher ended")
	}
}

// TestPushedBackupTakesTheRoom: a WHIP publish to node c of backup room finals owned by node a
// is kept on c and pushed to a, where it stands by; when a's publisher and its claim go, c
// takes the room and its publisher is the room's origin.
func TestPushedBackupTakesTheRoom(t *testing.T) {
	pc := &pushCluster{dir: cluster.NewMemory("a"), urls: map[string]string{}}
	a, c := pc.start(t, "a"), pc.start(t, "c")
	ctx := testkit.Context(t, 30*time.Second)
	primary := testnode.StartPublisher(t, ctx, a.WHIP("finals"), client.Options{})
	go primary.Feed(ctx)
	a.WaitLive(t, ctx, "finals")
	backup := testnode.StartPublisher(t, ctx, c.WHIP("finals"), client.Options{})
	go backup.Feed(ctx)
	testkit.Eventually(t, ctx, "c pushes the backup, a holds it as its standby", func() bool {
		onA, _ := a.SFU.Room("finals")
		onC, _ := c.SFU.Room("finals")
		return onA.Backup != nil && onA.Backup.OnAir == sfu.SourcePrimary && onC.Backup != nil && onC.Backup.PushedTo == "a"
	})
	// The primary leaves: a's standby (the push) goes on air on a, which still owns the room.
	if err := primary.Session.Close(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, ctx, "the push on air on a", func() bool {
		onA, _ := a.SFU.Room("finals")
		return onA.Live && onA.Backup == nil
	})
	// Node a goes away (its sessions end, its claim is released): c takes the room.
	if err := a.SFU.Close(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, ctx, "c owns the room, its publisher on air", func() bool {
		owner, ok, _ := pc.dir.Owner(ctx, "finals", cluster.Publisher)
		onC, _ := c.SFU.Room("finals")
		return ok && owner.Node == "c" && onC.Live && onC.Backup == nil && !onC.Relayed
	})
}
