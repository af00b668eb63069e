package signaling

import (
	"errors"
	"net"
	"net/http"

	"github.com/glint-video/glint/limits"
	"github.com/glint-video/glint/sfu"
)

// Admission are signaling's per-client limits (package limits); a nil counter admits
// everything. The rate limits sit in front of the whole mux (limits.RateGuard).
type Admission struct {
	// ClientIP is the key the per-client counts use (limits.ClientIPs.Key: the client's
	// address, "" for an exempt client); nil: the connection's address.
	ClientIP func(*http.Request) string
	Sessions *limits.Counter // WHIP + WHEP sessions per client IP, released when a session ends
	Watchers *limits.Counter // open event streams per client IP and on the node
}

func (s *Server) clientIP(r *http.Request) string {
	if f := s.opts.Admission.ClientIP; f != nil {
		return f(r)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// holdUntilEnd keeps a session's place in the per-IP session count until the session ends.
func holdUntilEnd(sess *sfu.Session, release func()) {
	go func() {
		<-sess.Done()
		release()
	}()
}

// limitStatus maps the limit errors to their status: a client's own limit is 429, the
// node's 503.
func limitStatus(err error) (int, bool) {
	var ref *limits.Refusal
	var node *sfu.LimitError
	switch {
	case errors.As(err, &ref):
		return ref.Status, true
	case errors.As(err, &node):
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}
