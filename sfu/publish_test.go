package sfu

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster"
)

// TestPublisherClaims: a room's publisher holds the room in the room directory; a second
// publisher gets ErrRoomBusy, or with ReplacePublisher takes the claim and ends the first;
// the claim goes when the publisher does.
func TestPublisherClaims(t *testing.T) {
	for _, replace := range []bool{false, true} {
		ctx := context.Background()
		dir := cluster.NewMemory("node-a")
		s, err := New(Options{Transport: TransportConfig{ICEIPs: []string{"127.0.0.1"}}, ReplacePublisher: replace, Directory: dir})
		if err != nil {
			t.Fatal(err)
		}
		video := &webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
		owner := func() string {
			c, ok, _ := dir.Owner(ctx, "r", cluster.Publisher)
			if !ok {
				return ""
			}
			return c.Holder
		}
		first, err := s.PublishLocal("r", video, nil, nil)
		if err != nil || owner() != first.ID() {
			t.Fatalf("replace=%v: first publisher %v, owner %q", replace, err, owner())
		}
		second, err := s.PublishLocal("r", video, nil, nil)
		switch {
		case !replace && err != ErrRoomBusy:
			t.Fatalf("second publisher: %v, want ErrRoomBusy", err)
		case !replace && owner() != first.ID():
			t.Fatalf("refused publisher changed the owner to %q", owner())
		case replace && (err != nil || owner() != second.ID()):
			t.Fatalf("replacing publisher: %v, owner %q", err, owner())
		case replace:
			select {
			case <-first.Context().Done():
			case <-time.After(5 * time.Second):
				t.Fatal("replaced publisher still running")
			}
			second.Close()
		default:
			first.Close()
		}
		if o := owner(); o != "" {
			t.Fatalf("replace=%v: room still claimed by %q after its publisher left", replace, o)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
