package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateCluster(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*ClusterSettings)
		wantErr string
	}{
		{"alone", func(*ClusterSettings) {}, ""},
		{"redis URL", func(s *ClusterSettings) { s.Redis = "redis://:pw@10.0.0.5:6379/2" }, ""},
		{"sentinel URL", func(s *ClusterSettings) { s.Redis = "redis+sentinel://10.0.0.5:26379?master_name=m" }, ""},
		{"bad scheme", func(s *ClusterSettings) { s.Redis = "http://:pw@10.0.0.5" }, "scheme must be one of"},
		{"password not shown", func(s *ClusterSettings) { s.Redis = "memcache://:hunter2@x" }, "xxxxx"},
		{"node id", func(s *ClusterSettings) { s.NodeID = "edge-1.eu" }, ""},
		{"bad node id", func(s *ClusterSettings) { s.NodeID = "a b" }, "node-id"},
		{"public URL", func(s *ClusterSettings) { s.PublicURL = "https://edge-1.example.com:8443" }, ""},
		{"public URL with a path", func(s *ClusterSettings) { s.PublicURL = "https://edge/x" }, "public-url"},
		{"public URL without scheme", func(s *ClusterSettings) { s.PublicURL = "edge:8080" }, "public-url"},
		{"lease", func(s *ClusterSettings) { s.Lease = 10 * time.Second }, ""},
		{"short lease", func(s *ClusterSettings) { s.Lease = 100 * time.Millisecond }, "cluster-lease"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.set(&c.Cluster)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate: %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
