package hls

import (
	"net/http"
)

// WaitAdmission decides whether a request may wait (a blocking playlist reload, a hinted
// part): it returns a release to call when the wait is over, or an error whose text is the
// one-line reason of a refusal.
type WaitAdmission func(r *http.Request) (release func(), err error)

// LimitWaiting makes every request that may wait ask admit first; a refused one is
// answered 429 with Retry-After at once instead of blocking. nil: no limit.
func (sv *Server) LimitWaiting(admit WaitAdmission) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.admit = admit
}

// admitWait asks the admission, answering a refusal itself (ok false).
func (sv *Server) admitWait(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	sv.mu.RLock()
	admit := sv.admit
	sv.mu.RUnlock()
	if admit == nil {
		return func() {}, true
	}
	release, err := admit(r)
	if err != nil {
		sv.log.Debug("hls: waiting request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err.Error())
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests, err.Error())
		return nil, false
	}
	return release, true
}
