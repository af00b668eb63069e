package auth

import "testing"

// TestClusterSecretRelaysAndPushes: the cluster secret lets another node subscribe to any
// room (a relay) and publish to any room (a push of a publisher it keeps for the room's
// owner), read a room's status (a relay learns the room's tracks), and nothing else (no
// other admin API).
func TestClusterSecretRelaysAndPushes(t *testing.T) {
	a := newTestAuthorizer(t, newClock(), Options{AdminKey: "adm1n", NodeSecret: "node-secret-0123"})
	h := a.Protect(fakeNode(nil))
	for _, tc := range []struct {
		method, path, token string
		status              int
	}{
		{"POST", "/whip/studio", "node-secret-0123", 200}, {"POST", "/whep/studio", "node-secret-0123", 200},
		{"POST", "/whip/studio", "", 401}, {"POST", "/whip/studio", "node-secret-0124", 401},
		{"GET", "/api/nodes", "node-secret-0123", 403},
		{"GET", "/api/rooms/studio", "node-secret-0123", 200}, {"GET", "/api/rooms/studio", "node-secret-0124", 401},
		{"GET", "/api/rooms", "node-secret-0123", 403}, {"POST", "/api/rooms/studio/source", "node-secret-0123", 403},
	} {
		if resp := do(t, h, tc.method, tc.path, tc.token); resp.StatusCode != tc.status {
			t.Errorf("%s %s token %q: %d, want %d", tc.method, tc.path, tc.token, resp.StatusCode, tc.status)
		}
	}
}
