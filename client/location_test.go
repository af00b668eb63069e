package client

import "testing"

func TestResolveLocation(t *testing.T) {
	tests := []struct {
		endpoint, location, want string
		wantErr                  bool
	}{
		{"http://h:8080/whip/demo", "/whip/demo/abc", "http://h:8080/whip/demo/abc", false},
		{"http://h:8080/whip/demo", "demo/abc", "http://h:8080/whip/demo/abc", false},
		{"http://h:8080/whip/demo/", "abc", "http://h:8080/whip/demo/abc", false},
		{"https://h/whep/r?x=1", "https://other/res/1", "https://other/res/1", false},
		{"http://h/whip/demo", "", "", true},
		{"http://h/whip/demo", "http://[::1", "", true},
	}
	for _, tt := range tests {
		got, err := resolveLocation(tt.endpoint, tt.location)
		if (err != nil) != tt.wantErr {
			t.Errorf("resolveLocation(%q, %q) error = %v, wantErr %v", tt.endpoint, tt.location, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("resolveLocation(%q, %q) = %q, want %q", tt.endpoint, tt.location, got, tt.want)
		}
	}
}
