package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// cacheTrack is a video uptrack whose ring holds a keyframe at ext 100 that arrived age ago,
// followed by after packets.
func cacheTrack(policy joinLagPolicy, age time.Duration, after int) *UpTrack {
	ring := newPacketRing(videoRingSize)
	now := time.Now()
	ring.Put(100, marshalPacket(100, 0, []byte{0x67, 0x42}), now.Add(-age), true)
	for i := 1; i <= after; i++ {
		ring.Put(uint64(100+i), marshalPacket(uint16(100+i), 0, []byte{0x41}), now, false)
	}
	return &UpTrack{kind: "video", ring: ring, joinLag: policy}
}

func TestCachedKeyframeIsUsedWhileRecentAndInTheRing(t *testing.T) {
	webrtcSource, ingest := newJoinLagPolicy(0), joinLagPolicy{cannotAsk: true}
	tests := []struct {
		name   string
		policy joinLagPolicy
		age    time.Duration
		after  int
		ok     bool
	}{
		{"recent", webrtcSource, 300 * time.Millisecond, 20, true},
		{"too far behind live", webrtcSource, 1500 * time.Millisecond, 20, false},
		{"disabled", newJoinLagPolicy(-1), 10 * time.Millisecond, 20, false},
		{"a source that cannot be asked: any age", ingest, time.Minute, 20, true},
		{"about to be overwritten", ingest, 10 * time.Millisecond, videoRingSize - catchUpRoom, false},
		{"overwritten", ingest, 10 * time.Millisecond, videoRingSize + 10, false},
	}
	for _, tc := range tests {
		up := cacheTrack(tc.policy, tc.age, tc.after)
		ext, lag, ok := up.cachedKeyframe(time.Now())
		if ok != tc.ok || ok && (ext != 100 || lag < tc.age) {
			t.Errorf("%s: cachedKeyframe = %d, %v, %v; want ok=%v at 100", tc.name, ext, lag, ok, tc.ok)
		}
	}
}

func TestForwarderJoinsAtTheCachedKeyframeOnlyBeforeItsFirstPacket(t *testing.T) {
	codec := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}}
	up := cacheTrack(newJoinLagPolicy(0), 100*time.Millisecond, 30)
	f := newForwarder(codec, true)
	now := time.Now()
	if ask, change := f.follow(up, now); ask != nil || change != joinedFromCache || f.cursor != 100 || !f.catchingUp() {
		t.Fatalf("join: ask %v, change %v, cursor %d; want no request, from the cache at 100", ask, change, f.cursor)
	}
	if f.catchUp(up.ring.Head(), up.ring.Size()) || f.cursor != 100 {
		t.Fatalf("catchUp moved the cursor from the cached keyframe to %d", f.cursor)
	}
	if f.caughtUp() {
		t.Fatal("caught up before the packets live at the join were sent")
	}
	f.cursor = up.ring.Head() + 1 // everything up to live went out
	if f.catchingUp() || !f.caughtUp() || f.caughtUp() {
		t.Fatal("caughtUp does not report once that the viewer has had what was live at its join")
	}
	f.m.rebase(100, 0, now, false) // a packet went out
	f.follow(nil, now)             // paused
	if ask, change := f.follow(up, now); ask != up || change != sourceSwitched {
		t.Fatalf("resume after a pause: ask %v, change %v; want a keyframe request, as before", ask, change)
	}
	old := cacheTrack(newJoinLagPolicy(0), 2*time.Second, 30)
	g := newForwarder(codec, true)
	if ask, change := g.follow(old, now); ask != old || change != joinedAskingKey || g.catchingUp() {
		t.Fatalf("join with an old cached keyframe: ask %v, change %v; want a keyframe request", ask, change)
	}
}
