package relay_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/relay"
)

// TestShieldFromProtectedOrigin: with access control on at the origin, its LL-HLS answers a
// request without a credential 401, and the shield, which sends the cluster secret, is
// served; without the secret the shield passes the origin's refusal on.
func TestShieldFromProtectedOrigin(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	log, _ := testkit.NewLogger(t)
	authz, err := auth.New(auth.Options{AdminKey: "origin-admin-key", NodeSecret: secret, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	originHLS := hls.NewServer(log)
	a := httptest.NewServer(authz.Protect(originHLS))
	t.Cleanup(a.Close)
	feedStream(t, ctx, originHLS, "locked")
	const playlist = "/hls/locked/hi/index.m3u8"
	testkit.Eventually(t, ctx, "the origin's playlist (with the cluster secret)", func() bool {
		req, _ := http.NewRequest(http.MethodGet, a.URL+playlist, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if status, _, _ := get(t, a.URL+playlist); status != http.StatusUnauthorized {
		t.Fatalf("the origin's playlist without a credential: %d, want 401", status)
	}

	r := newRoutes()
	r.urls["a"] = a.URL
	r.route("b", "locked", "a")
	for _, tc := range []struct {
		secret string
		want   int
	}{{secret, http.StatusOK}, {"", http.StatusUnauthorized}} {
		edgeHLS := hls.NewServer(log)
		shield, err := relay.NewShield(relay.ShieldOptions{Local: edgeHLS, Has: edgeHLS.Has, Locator: locator{r, "b"},
			NodeID: "b", Secret: tc.secret, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		b := httptest.NewServer(shield)
		if status, _, body := get(t, b.URL+playlist); status != tc.want {
			t.Errorf("shield with secret %q: %d %q, want %d", tc.secret, status, body, tc.want)
		}
		b.Close()
	}
}
