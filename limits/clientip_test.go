package limits

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPs(t *testing.T) {
	trusted := ClientIPs{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name   string
		ips    ClientIPs
		remote string
		xff    []string
		want   string
	}{
		{"no proxies: the connection", ClientIPs{}, "192.0.2.7:5000", []string{"198.51.100.1"}, "192.0.2.7"},
		{"IPv4-mapped IPv6 is unmapped", ClientIPs{}, "[::ffff:192.0.2.7]:5000", nil, "192.0.2.7"},
		{"untrusted connection: header ignored", trusted, "192.0.2.7:5000", []string{"198.51.100.1"}, "192.0.2.7"},
		{"trusted proxy: rightmost untrusted hop", trusted, "10.1.2.3:5000", []string{"203.0.113.5, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"two header lines", trusted, "10.1.2.3:5000", []string{"203.0.113.5", "198.51.100.2"}, "198.51.100.2"},
		{"only trusted hops: the leftmost", trusted, "10.1.2.3:5000", []string{"10.2.2.2"}, "10.2.2.2"},
		{"malformed hop stops the walk", trusted, "10.1.2.3:5000", []string{"198.51.100.1, junk"}, "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.ips.Of(r); got != tc.want {
				t.Fatalf("Of() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for remote, want := range map[string]bool{"127.0.0.1:1": true, "127.0.0.9:1": true, "[::1]:1": true,
		"192.0.2.1:1": false, "garbage": false} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "127.0.0.1")
		if got := IsLoopback(r); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", remote, got, want)
		}
	}
}
