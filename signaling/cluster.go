package signaling

import (
	"errors"
	"net/http"

	"github.com/glint-video/glint/cluster"
)

// routeToOwner answers a publish of a room that another node owns with 307 to that node
// (true), before this node opens a session; an unreachable directory answers 503.
func (s *Server) routeToOwner(w http.ResponseWriter, r *http.Request, room string) bool {
	if s.opts.Nodes == nil || s.opts.Directory == nil || !s.isRelay(r) && s.opts.SFU.KeepsRemoteBackup(room) {
		return false // a backup room's publisher stays here as its standby (sfu/backup_remote.go)
	}
	owner, ok, err := s.opts.Directory.Owner(r.Context(), room, cluster.Publisher)
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	return ok && s.redirectToOwner(w, r, &cluster.ClaimedError{Owner: owner})
}

// redirectToOwner answers a publish that failed because another node owns the room with
// 307 Temporary Redirect to the same path on that node (WHIP clients repeat the POST
// there); false, having written nothing, when err is not that or the owner's URL is
// unknown (the caller then answers the error: 409 naming the owner node).
func (s *Server) redirectToOwner(w http.ResponseWriter, r *http.Request, err error) bool {
	var claimed *cluster.ClaimedError
	if s.opts.Nodes == nil || s.opts.Directory == nil || !errors.As(err, &claimed) || claimed.Owner.Node == s.opts.Directory.Node() {
		return false
	}
	owner, ok, lookupErr := s.opts.Nodes.Node(r.Context(), claimed.Owner.Node)
	if lookupErr != nil || !ok || owner.URL == "" {
		s.log.Warn("whip: room owned by another node whose address is unknown", "room", claimed.Owner.Room,
			"owner", claimed.Owner.Node, "lookup_err", lookupErr)
		return false
	}
	target := owner.URL + r.URL.RequestURI()
	s.log.Info("whip: room owned by another node, redirecting", "room", claimed.Owner.Room, "owner", claimed.Owner.Node, "location", target)
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}
