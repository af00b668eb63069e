package auth

import (
	"errors"
	"sync/atomic"
)

// denialCounts counts refusals by kind; its map is built once and only read after.
type denialCounts map[string]*atomic.Uint64

func newDenialCounts() denialCounts {
	d := denialCounts{}
	for _, k := range denyKinds {
		d[k] = new(atomic.Uint64)
	}
	return d
}

// count adds err's refusal under its kind (an error without one counts as invalid).
func (d denialCounts) count(err error) {
	kind := DenyInvalid
	var e *Error
	if errors.As(err, &e) && d[e.Kind] != nil {
		kind = e.Kind
	}
	d[kind].Add(1)
}

// Denials returns how many requests (HTTP entries and RTMP/SRT publishers) were refused
// since start, by kind (the Deny* constants), every kind present: what a metrics
// collector exports as glint_auth_denials_total{reason}.
func (a *Authorizer) Denials() map[string]uint64 {
	out := make(map[string]uint64, len(a.denials))
	for k, n := range a.denials {
		out[k] = n.Load()
	}
	return out
}
