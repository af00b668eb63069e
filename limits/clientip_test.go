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

func TestClientKeyOfExemptClients(t *testing.T) {
	ips := ClientIPs{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("198.51.100.0/24")}}
	for _, tc := range []struct{ remote, xff, want string }{
		{"127.0.0.1:1", "", ""},
		{"192.0.2.1:1", "", "192.0.2.1"},
		{"10.0.0.1:1", "198.51.100.7", ""},           // an exempt client behind a trusted proxy
		{"192.0.2.1:1", "198.51.100.7", "192.0.2.1"}, // an untrusted client cannot claim an exempt address
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ips.Key(r); got != tc.want {
			t.Errorf("Key(%s, XFF %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
	c := NewCounter("sessions_per_ip", "sessions", 1, 3)
	for i := range 3 {
		if _, err := c.Acquire(""); err != nil {
			t.Fatalf("exempt acquisition %d: %v", i+1, err)
		}
	}
	if _, err := c.Acquire("192.0.2.1"); err == nil {
		t.Fatal("exempt clients do not count toward the node's total")
	}
	if ok, _ := NewRateLimiter(1, 1, 1).Allow(""); !ok {
		t.Fatal("an exempt client was rate limited")
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
