package signaling

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/sfu"
)

// HopsHeader is a relay's WHEP request's distance from the viewers' node (1: the relay of
// the node the viewers are on; absent counts as 1), so a misrouted chain of nodes ends.
const HopsHeader = "Glint-Relay-Hops"

// AlternateHeader ("1") on a relay's WHEP request asks for the room's alternate H.264 video
// only (sfu.SubscribeRelayAlternate); it counts only with the cluster secret.
const AlternateHeader = "Glint-Relay-Alternate"

// Relays brings a room that is live on another node here (package relay).
type Relays interface {
	// Prepare makes room playable here when it is live elsewhere: it starts (or joins) the
	// room's relay and returns once the relay publishes here. hops is how far the request is
	// from the viewers (0 for a viewer, the HopsHeader for a relay). release is called when the session ends (or did not
	// start); it is never nil when err is nil. A room live nowhere else is no error: the
	// SFU then answers that the room has no publisher.
	Prepare(ctx context.Context, room string, hops int) (release func(), err error)
}

// isRelay reports whether the request carries the cluster secret: another node's relay.
func (s *Server) isRelay(r *http.Request) bool {
	return s.opts.ClusterSecret != "" && bearerIs(r, s.opts.ClusterSecret)
}

// subscribe starts a WHEP session: a relay subscriber for a request with the cluster
// secret (of the alternate video only, with the AlternateHeader), a viewer otherwise, after
// Relays brought the room here if it is live elsewhere.
func (s *Server) subscribe(r *http.Request, room, offer string) (*sfu.Session, string, error) {
	relay := s.isRelay(r)
	release := func() {}
	if s.opts.Relays != nil {
		hops := 0
		if relay {
			hops, _ = strconv.Atoi(r.Header.Get(HopsHeader))
			hops = max(hops, 1)
		}
		var err error
		if release, err = s.opts.Relays.Prepare(r.Context(), room, hops); err != nil {
			s.log.Warn("relay failed", "room", room, "hops", hops, "err", err.Error())
			if errors.Is(err, cluster.ErrUnavailable) {
				return nil, "", err // 503: where the room lives cannot be looked up now
			}
			return nil, "", fail(http.StatusBadGateway, "room %q is live on another node but cannot be relayed from it", room)
		}
	}
	var sess *sfu.Session
	var answer string
	var err error
	switch {
	case relay && r.Header.Get(AlternateHeader) == "1":
		sess, answer, err = s.opts.SFU.SubscribeRelayAlternate(r.Context(), room, offer)
		if errors.Is(err, sfu.ErrNoAlternate) {
			err = fail(http.StatusNotFound, "room %q has no alternate video here", room)
		}
	case relay:
		sess, answer, err = s.opts.SFU.SubscribeRelay(r.Context(), room, offer)
	default:
		sess, answer, err = s.opts.SFU.Subscribe(r.Context(), room, offer)
	}
	if err != nil {
		release()
		return nil, "", err
	}
	go func() {
		<-sess.Done()
		release()
	}()
	return sess, answer, nil
}
