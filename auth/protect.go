package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/glint-video/glint/hls"
)

// Protect returns h with every request checked by its rule (rules.go) before h sees it;
// the grant is in the request's context (GrantFrom). Playlists served under a credential
// come back with their URIs signed. With auth off, h is returned as it is.
func (a *Authorizer) Protect(h http.Handler) http.Handler {
	if !a.httpOn {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl := classify(r)
		if rl.pass {
			h.ServeHTTP(w, r)
			return
		}
		if !rl.validRoom() {
			a.refuse(w, r, rl.room, &Error{Status: http.StatusBadRequest, Kind: DenyBadRequest, Reason: "invalid room name: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit"})
			return
		}
		g, sig, err := a.checkRule(r, rl)
		if err != nil {
			a.refuse(w, r, rl.room, err)
			return
		}
		r = r.WithContext(WithGrant(r.Context(), g))
		if rl.media && sig == "" && !g.Open() && r.Header.Get("Authorization") != "" {
			w = &privateResponse{ResponseWriter: w} // the URL alone must not fetch it from a shared cache
		}
		if rl.media && !g.Open() && r.Method == http.MethodGet && (strings.HasSuffix(r.URL.Path, ".m3u8") || strings.HasSuffix(r.URL.Path, ".mpd")) {
			a.serveSignedPlaylist(w, r, h, rl, g, sig)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkRule checks r against rl: a media URL's signature (s=) when it has one, else its
// credential. sig is the signature checked, if any.
func (a *Authorizer) checkRule(r *http.Request, rl rule) (g Grant, sig string, err error) {
	if rl.media && r.URL.RawQuery != "" {
		if sig = r.URL.Query().Get(signedParam); sig != "" {
			exp, err := a.signer.verify(rl.room, sig)
			return Grant{Room: rl.room, Roles: Subscribe, Expires: exp, Source: "signed-url"}, sig, err
		}
	}
	if rl.cluster && a.opts.NodeSecret != "" && equal(credential(r), a.opts.NodeSecret) {
		return Grant{Room: "*", Roles: Subscribe, Source: "cluster"}, "", nil
	}
	if rl.anyRoom {
		g, err = a.checkAnyRoom(r)
		return g, "", err
	}
	g, err = a.Check(r, rl.room, rl.role)
	return g, "", err
}

// checkAnyRoom passes any valid, unexpired credential; the handler decides with AllowedIn.
func (a *Authorizer) checkAnyRoom(r *http.Request) (Grant, error) {
	cred := credential(r)
	if cred == "" {
		return Grant{}, unauthorized(DenyNoCredential, "this needs a token")
	}
	g, err := a.grantOf(r.Context(), cred, "")
	if err == nil && g.expired(a.now()) {
		err = unauthorized(DenyExpired, "token expired")
	}
	return g, err
}

// AllowedIn reports whether the grant of ctx (from Protect) allows any of roles in room;
// true when there is none (auth off) or the request needed no credential.
func AllowedIn(ctx context.Context, room string, roles ...Role) bool {
	g, ok := GrantFrom(ctx)
	if !ok || g.Open() {
		return true
	}
	for _, role := range roles {
		if g.Covers(room, role, time.Now()) {
			return true
		}
	}
	return false
}

// Require returns middleware that checks role in the room roomOf finds in a request (""
// for admin), for handlers mounted outside Protect's rules, e.g.
//
//	mux.Handle("GET /ws/rooms/{room}", authz.Require(auth.Subscribe, auth.PathRoom)(h))
func (a *Authorizer) Require(role Role, roomOf func(*http.Request) string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			room := roomOf(r)
			g, err := a.Check(r, room, role)
			if err != nil {
				a.refuse(w, r, room, err)
				return
			}
			h.ServeHTTP(w, r.WithContext(WithGrant(r.Context(), g)))
		})
	}
}

// PathRoom is the {room} path value of a request (for Require).
func PathRoom(r *http.Request) string { return r.PathValue("room") }

// refuse answers a failed check: 401 with WWW-Authenticate: Bearer, 403, or 400, as JSON
// {"error": reason}, never cached.
func (a *Authorizer) refuse(w http.ResponseWriter, r *http.Request, room string, err error) {
	status, reason := StatusOf(err), err.Error()
	a.denials.count(err)
	h := w.Header()
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="glint", error="invalid_token"`)
		if credential(r) == "" {
			h.Set("WWW-Authenticate", `Bearer realm="glint"`)
		}
	case http.StatusForbidden:
		h.Set("WWW-Authenticate", `Bearer realm="glint", error="insufficient_scope"`)
	}
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	a.log.Info("auth: refused", "room", room, "method", r.Method, "path", r.URL.Path, "status", status,
		"reason", reason, "ip", clientIP(r.RemoteAddr))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
}

// serveSignedPlaylist serves a playlist through h and signs its URIs: media playlists
// with sig (the request's own signature) or, for a token request, one for the grant's
// expiry; under /hls/ parts, segments and init segments with the short signature.
func (a *Authorizer) serveSignedPlaylist(w http.ResponseWriter, r *http.Request, h http.Handler, rl rule, g Grant, sig string) {
	playlistSig := sig
	if playlistSig == "" {
		playlistSig = a.signer.long(rl.room, g.Expires)
	}
	mediaSig := playlistSig
	if rl.live {
		mediaSig = a.signer.short(rl.room)
	}
	gz := strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
	inner := r.Clone(r.Context())
	inner.Header.Del("Accept-Encoding") // the body is rewritten here, then compressed
	rec := &bufferedResponse{header: w.Header(), status: http.StatusOK}
	h.ServeHTTP(rec, inner)
	body := rec.body.Bytes()
	hdr := w.Header()
	if rec.status == http.StatusOK && strings.Contains(hdr.Get("Content-Type"), "mpegurl") {
		body = signPlaylist(body, playlistSig, mediaSig)
		if gz {
			body = hls.Gzip(body)
			hdr.Set("Content-Encoding", "gzip")
		}
		hdr.Add("Vary", "Accept-Encoding")
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	} else if rec.status == http.StatusOK && isMPD(hdr.Get("Content-Type")) {
		body = signMPD(body, mediaSig)
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
}

// privateResponse turns a public Cache-Control into a private one: media answered to a
// bearer header, whose URL carries no credential.
type privateResponse struct {
	http.ResponseWriter
	wrote bool
}

func (p *privateResponse) WriteHeader(status int) {
	if !p.wrote {
		p.wrote = true
		h := p.Header()
		if cc := h.Get("Cache-Control"); strings.Contains(cc, "public") {
			h.Set("Cache-Control", strings.Replace(cc, "public", "private", 1))
		}
	}
	p.ResponseWriter.WriteHeader(status)
}

func (p *privateResponse) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

func (p *privateResponse) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// bufferedResponse keeps a handler's answer: headers go to the real writer's map, the
// status and body are held until the handler returns.
type bufferedResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if !b.wrote {
		b.status, b.wrote = status, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
