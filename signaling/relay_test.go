package signaling_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// TestClusterSecretMakesARelaySession: a WHEP request with the cluster secret is another
// node's relay: it needs no room token, is a relay session (not a viewer), and is a WHEP
// resource its DELETE ends; a wrong secret is a viewer without the room's token (401).
func TestClusterSecretMakesARelaySession(t *testing.T) {
	const secret = "0123456789abcdef-cluster"
	ctx := testkit.Context(t, 30*time.Second)
	authz, err := auth.New(auth.Options{RoomTokens: map[string]string{"vip": "viewer-token"}, NodeSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	n := testnode.Start(t, testnode.Options{Handler: authz.Protect, Signaling: func(o *signaling.Options) {
		o.ClusterSecret = secret
	}})
	pub := testnode.StartPublisher(t, ctx, n.WHIP("vip"), client.Options{Token: "viewer-token"})
	pub.GoLive(t, ctx, n, "vip")

	_, err = client.Play(ctx, n.WHEP("vip"), client.Options{Token: "not-the-secret", LoopbackOnly: true})
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %v; want 401", err)
	}
	relay, err := client.Play(ctx, n.WHEP("vip"), client.Options{Token: secret, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("relay with the cluster secret: %v", err)
	}
	id := relay.Location()[strings.LastIndex(relay.Location(), "/")+1:]
	if sess, ok := n.SFU.Session(id); !ok || sess.Role != sfu.RoleRelay {
		t.Errorf("session %s found %v; want a relay session", id, ok)
	}
	if info, _ := n.SFU.Room("vip"); info.Viewers != 0 || info.Relays != 1 {
		t.Errorf("room: %d viewers, %d relays; want 0 and 1", info.Viewers, info.Relays)
	}
	if tot := n.SFU.Totals(); tot.Viewers != 0 || tot.RelaysOut != 1 {
		t.Errorf("totals: %d viewers, %d relays out; want 0 and 1", tot.Viewers, tot.RelaysOut)
	}
	if err := relay.Close(ctx); err != nil {
		t.Fatalf("relay DELETE: %v", err)
	}
	testkit.Eventually(t, ctx, "the relay session gone", func() bool { info, _ := n.SFU.Room("vip"); return info.Relays == 0 })
}
