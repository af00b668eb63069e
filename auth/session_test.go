package auth_test

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

const secret = "session-test-secret-0123456789abcdef"

func mint(t *testing.T, tr auth.TokenRequest) string {
	t.Helper()
	tok, _, err := auth.Mint([]byte(secret), tr, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// protectedNode is a test node behind auth.Protect with a live publisher in room studio.
func protectedNode(t *testing.T, ctx context.Context) *testnode.Node {
	t.Helper()
	authz, err := auth.New(auth.Options{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	n := testnode.Start(t, testnode.Options{Handler: authz.Protect})
	if _, err := testnode.TryPublisher(ctx, n.WHIP("studio"), client.Options{}); err == nil {
		t.Fatal("WHIP without a token: published, want a 401")
	}
	p := testnode.StartPublisher(t, ctx, n.WHIP("studio"), client.Options{Token: mint(t, auth.TokenRequest{Room: "studio", Role: "publish"})})
	p.GoLive(t, ctx, n, "studio")
	return n
}

// TestExpiredTokenEndsTheSession: a WHEP viewer whose token expires mid-stream is
// disconnected then (the server closes its PeerConnection); a new offer with the token is
// refused.
func TestExpiredTokenEndsTheSession(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n := protectedNode(t, ctx)
	tok := mint(t, auth.TokenRequest{Room: "studio", Role: "subscribe", TTL: "3s"})
	sess, err := client.Play(ctx, n.WHEP("studio"), client.Options{Token: tok, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("WHEP with a subscribe token: %v", err)
	}
	defer func() { _ = sess.Close(context.Background()) }()
	id := path.Base(sess.Location())
	if _, ok := n.SFU.Session(id); !ok {
		t.Fatalf("no server session %s", id)
	}
	testkit.Eventually(t, ctx, "the server session closed at the token's expiry", func() bool {
		_, ok := n.SFU.Session(id)
		return !ok
	})
	n.Logs.WaitFor(t, ctx, "session ends: its grant expired", "room=studio", "session="+id)
	_, err = client.Play(ctx, n.WHEP("studio"), client.Options{Token: tok, LoopbackOnly: true})
	var herr *client.HTTPError
	if !errors.As(err, &herr) || herr.Status != http.StatusUnauthorized || !strings.Contains(herr.Body, "expired") {
		t.Fatalf("WHEP with the expired token: %v, want 401 token expired", err)
	}
}

// TestTokenLayerCap: a viewer token's max_layer caps the viewer from its first packet, and
// its layer requests cannot lift the cap.
func TestTokenLayerCap(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n := protectedNode(t, ctx)
	tok := mint(t, auth.TokenRequest{Room: "studio", Role: "subscribe", MaxLayer: "l"})
	sess, err := client.Play(ctx, n.WHEP("studio"), client.Options{Token: tok, LoopbackOnly: true})
	if err != nil {
		t.Fatalf("WHEP: %v", err)
	}
	defer func() { _ = sess.Close(context.Background()) }()
	maxLayer := func() string {
		s, ok := n.SFU.Session(path.Base(sess.Location()))
		if !ok {
			t.Fatal("session gone")
		}
		for _, d := range s.DownTracks() {
			if st := d.Stats(); st.Kind == "video" {
				return st.MaxLayer
			}
		}
		return "no video"
	}
	if got := maxLayer(); got != "l" {
		t.Fatalf("max layer %q, want the token's l", got)
	}
	statsURL := n.URL + "/api/sessions/" + path.Base(sess.Location())
	for _, tc := range []struct {
		token string
		want  int
	}{{tok, 200}, {mint(t, auth.TokenRequest{Room: "stage", Role: "subscribe"}), 404}, {"", 401}} {
		req, _ := http.NewRequest("GET", statsURL, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("the session's stats with token %.10q: %v %v, want %d", tc.token, resp, err, tc.want)
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
	}
	for _, ask := range []string{"h", "auto"} {
		req, _ := http.NewRequest("POST", sess.Location()+"/layer", strings.NewReader(`{"maxLayer":"`+ask+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("layer %s: %v %v", ask, resp, err)
		}
		_ = resp.Body.Close()
		if got := maxLayer(); got != "l" {
			t.Errorf("after asking for %s: max layer %q, want the token's cap l", ask, got)
		}
	}
}
