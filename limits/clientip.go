package limits

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIPs finds the address of the client a request comes from.
type ClientIPs struct {
	// Trusted are the proxies (a CDN, a load balancer) whose X-Forwarded-For is believed:
	// when the connection comes from one of them, the client is the rightmost address of
	// X-Forwarded-For that is not itself a trusted proxy. Empty: X-Forwarded-For is ignored.
	Trusted []netip.Prefix
	// Exempt are the clients the per-client limits do not apply to (Key is "" for them);
	// they still count toward the node's totals.
	Exempt []netip.Prefix
}

// Key returns what the per-client limits count a request under: its client address, or
// "" for an exempt client (RateLimiter and Counter apply no per-key limit to "").
func (c ClientIPs) Key(r *http.Request) string {
	ip := c.Of(r)
	if a, err := netip.ParseAddr(ip); err == nil && contains(c.Exempt, a) {
		return ""
	}
	return ip
}

// Of returns the request's client address as text ("" only for a request with no
// parseable RemoteAddr, which net/http never makes).
func (c ClientIPs) Of(r *http.Request) string {
	addr := remoteAddr(r.RemoteAddr)
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if len(c.Trusted) == 0 || !c.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing left of it
		}
		hop = hop.Unmap()
		if !c.trusted(hop) {
			return hop.String()
		}
		addr = hop
	}
	return addr.String()
}

func (c ClientIPs) trusted(a netip.Addr) bool { return contains(c.Trusted, a) }

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// IsLoopback reports whether the request's connection comes from this machine (its
// RemoteAddr, never a forwarded header): the default admin check.
func IsLoopback(r *http.Request) bool {
	a := remoteAddr(r.RemoteAddr)
	return a.IsValid() && a.IsLoopback()
}
