package signaling

import (
	"net/http"
	"time"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/sfu"
)

// applyGrant binds a new session to the grant its request was authorized with: a viewer
// starts at the grant's layer cap, and a session whose grant expires is closed at its end
// (expiry + auth.Leeway, when new requests with the token are refused too; docs/auth.md).
func (s *Server) applyGrant(r *http.Request, sess *sfu.Session) {
	g, ok := auth.GrantFrom(r.Context())
	if !ok {
		return
	}
	if g.MaxLayer != "" && sess.Role == sfu.RoleViewer {
		sess.SetMaxLayer(g.MaxLayer)
	}
	if g.Expires.IsZero() {
		return
	}
	timer := time.NewTimer(time.Until(g.End()))
	go func() {
		defer timer.Stop()
		select {
		case <-timer.C:
			s.log.Info("session ends: its grant expired", "room", sess.Room, "session", sess.ID, "expired", g.Expires, "source", g.Source)
			sess.Close()
		case <-sess.Done():
		}
	}()
}

// layerRank orders the simulcast layers; "" (auto) ranks above every layer.
var layerRank = map[string]int{"l": 1, "m": 2, "h": 3, "": 4}

// capLayer lowers a viewer's layer request to its grant's cap.
func capLayer(r *http.Request, layer string) string {
	g, ok := auth.GrantFrom(r.Context())
	if !ok || g.MaxLayer == "" || layerRank[layer] <= layerRank[g.MaxLayer] {
		return layer
	}
	return g.MaxLayer
}
