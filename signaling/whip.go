package signaling

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/glint-video/glint/sfu"
)

// handleOffer serves POST /whip/{room} (publish) and POST /whep/{room} (play).
func (s *Server) handleOffer(role sfu.Role) http.Handler {
	prefix := "/whip/"
	if role == sfu.RoleViewer {
		prefix = "/whep/"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room, err := roomFrom(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if s.refuseDraining(w, r) {
			return
		}
		offer, err := readBody(w, r, typeSDP)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		release, err := s.opts.Admission.Sessions.Acquire(s.clientIP(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var sess *sfu.Session
		var answer string
		if role == sfu.RolePublisher {
			if s.routeToOwner(w, r, room) {
				return
			}
			sess, answer, err = s.opts.SFU.Publish(r.Context(), room, offer)
		} else {
			sess, answer, err = s.subscribe(r, room, offer)
		}
		if err != nil && role == sfu.RolePublisher && s.redirectToOwner(w, r, err) {
			return
		}
		if err != nil {
			release()
			if err == sfu.ErrNoPublisher {
				err = fail(http.StatusNotFound, "room %q has no publisher", room)
			}
			s.writeError(w, r, err)
			return
		}
		s.applyGrant(r, sess)
		holdUntilEnd(sess, release)
		h := w.Header()
		h.Set("Content-Type", typeSDP)
		h.Set("Location", prefix+room+"/"+sess.ID)
		h.Set("ETag", sess.ETag())
		h.Set("Accept-Patch", typeSDPFrag)
		s.setLinkHeaders(w)
		if role == sfu.RoleViewer {
			h.Add("Link", fmt.Sprintf(`<%s%s/%s/layer>; rel="urn:ietf:params:whep:ext:core:layer"`, prefix, room, sess.ID))
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(answer))
	})
}

// session finds the {session} of the request, which must belong to {room} and role.
func (s *Server) session(r *http.Request, role sfu.Role) (*sfu.Session, error) {
	room, err := roomFrom(r)
	if err != nil {
		return nil, err
	}
	sess, ok := s.opts.SFU.Session(r.PathValue("session"))
	if ok && sess.Role == sfu.RoleRelay && role == sfu.RoleViewer {
		role = sfu.RoleRelay // a relay's session is a WHEP resource too
	}
	if !ok || sess.Room != room || sess.Role != role {
		return nil, fail(http.StatusNotFound, "no such session")
	}
	return sess, nil
}

func (s *Server) handlePatch(role sfu.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.session(r, role)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := readBody(w, r, typeSDPFrag)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != sess.ETag() {
			s.writeError(w, r, fail(http.StatusPreconditionFailed, "If-Match %s does not match the session's ETag", m))
			return
		}
		frag, err := sess.Patch(r.Context(), body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("ETag", sess.ETag())
		if frag == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", typeSDPFrag)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(frag))
	})
}

func (s *Server) handleDelete(role sfu.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.session(r, role)
		if err != nil && statusOf(err) == http.StatusNotFound && s.opts.SFU.RecentlyEnded(r.PathValue("session")) {
			w.WriteHeader(http.StatusOK) // the peer left first; the resource is gone either way
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sess.Close()
		w.WriteHeader(http.StatusOK)
	})
}

// layerRequest selects a viewer's simulcast layer (WHEP layer extension): encodingId or
// maxLayer "l", "m", "h", or "" / "auto" for the bandwidth allocator's choice.
type layerRequest struct {
	EncodingID string `json:"encodingId"`
	MaxLayer   string `json:"maxLayer"`
}

func (s *Server) handleLayer(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r, sfu.RoleViewer)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r, "application/json")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req layerRequest
	if err := json.NewDecoder(io.LimitReader(stringReader(body), MaxBodyBytes)).Decode(&req); err != nil {
		s.writeError(w, r, fail(http.StatusBadRequest, "layer: bad JSON: %v", err))
		return
	}
	layer := req.MaxLayer
	if layer == "" {
		layer = req.EncodingID
	}
	switch layer {
	case "", "auto":
		layer = ""
	case "l", "m", "h":
	default:
		s.writeError(w, r, fail(http.StatusBadRequest, "layer %.20q: want l, m, h or auto", layer))
		return
	}
	sess.SetMaxLayer(capLayer(r, layer))
	w.WriteHeader(http.StatusNoContent)
}
