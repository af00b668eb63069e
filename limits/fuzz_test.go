package limits

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// FuzzClientIPs: whatever a client puts in X-Forwarded-For, the address a limit counts is
// a real address; a client that is not a trusted proxy is always its connection's address
// (it cannot pose as another client), and a trusted proxy's client is never the proxy
// range's own address unless every hop is trusted.
func FuzzClientIPs(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.1:5000", "203.0.113.9"}, {"10.0.0.1:5000", "203.0.113.9, 10.0.0.2"}, {"192.0.2.1:1", "127.0.0.1"},
		{"[::1]:1", "::ffff:1.2.3.4"}, {"10.0.0.1:1", ",,,"}, {"10.0.0.1:1", "fe80::1%eth0"}, {"bad", "1.1.1.1"},
	} {
		f.Add(s[0], s[1])
	}
	ips := ClientIPs{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := ips.Of(r)
		conn := remoteAddr(remote)
		if !conn.IsValid() {
			if got != remote {
				t.Fatalf("unparseable RemoteAddr %q gave %q", remote, got)
			}
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("remote %q xff %q: client %q is not an address", remote, xff, got)
		}
		if !ips.trusted(conn) && a != conn {
			t.Fatalf("untrusted %q posed as %q through X-Forwarded-For %q", remote, got, xff)
		}
	})
}
