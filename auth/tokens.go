package auth

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// TokenResponse is the answer of POST /api/tokens.
type TokenResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	Room    string    `json:"room"`
	Role    string    `json:"role"`
}

// Register mounts POST /api/tokens on mux: an admin (Protect checks the role) mints an
// HS256 token from a TokenRequest.
func (a *Authorizer) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/tokens", a.handleMint)
}

func (a *Authorizer) handleMint(w http.ResponseWriter, r *http.Request) {
	if g, ok := GrantFrom(r.Context()); !ok || !g.Roles.allows(Admin) {
		a.refuse(w, r, "", unauthorized(DenyNoCredential, "minting tokens needs an admin credential"))
		return
	}
	if !a.CanMint() {
		writeJSONError(w, http.StatusConflict, "this node has no --auth-secret to sign tokens with")
		return
	}
	var req TokenRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("bad JSON: %v (want {\"room\", \"role\", \"ttl\", \"max_layer\", \"viewer_id\"})", err))
		return
	}
	token, exp, err := Mint(a.opts.Secret, req, a.now())
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.log.Info("auth: token minted", "room", req.Room, "role", req.Role, "expires", exp, "viewer", req.ViewerID)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(TokenResponse{Token: token, Expires: exp, Room: req.Room, Role: req.Role})
}

func writeJSONError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
}
