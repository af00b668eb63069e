package main

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/glint-video/glint/config"
)

// TestComposeFile checks docs/compose/docker-compose.yml without a container engine: every
// glint service's command and environment load as a valid configuration, in a cluster (one
// Redis, a cluster secret), with its own node id and UDP port, and publishes that port.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("../../docs/compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("compose file: %v", err)
	}
	ids, udp := map[string]bool{}, map[int]bool{}
	nodes := 0
	for name, svc := range file.Services {
		if !strings.HasPrefix(name, "glint-") {
			continue
		}
		nodes++
		if len(svc.Command) == 0 || svc.Command[0] != "serve" {
			t.Fatalf("%s: command %v, want serve ...", name, svc.Command)
		}
		cfg, err := config.Load(svc.Command[1:], func(k string) string { return svc.Environment[k] }, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !cfg.Cluster.Enabled() || cfg.Relay.ClusterSecret == "" || cfg.Auth.HS256Secret() == "" {
			t.Errorf("%s: redis %q, cluster secret set %v, auth secret set %v", name, cfg.Cluster.Redis,
				cfg.Relay.ClusterSecret != "", cfg.Auth.HS256Secret() != "")
		}
		if ids[cfg.Cluster.NodeID] || udp[cfg.UDPPort] {
			t.Errorf("%s: node id %q or UDP port %d used twice", name, cfg.Cluster.NodeID, cfg.UDPPort)
		}
		ids[cfg.Cluster.NodeID], udp[cfg.UDPPort] = true, true
		port := strconv.Itoa(cfg.UDPPort)
		if !slices.Contains(svc.Ports, port+":"+port+"/udp") {
			t.Errorf("%s: UDP port %s not published: %v", name, port, svc.Ports)
		}
	}
	if nodes != 3 {
		t.Errorf("%d glint services, want 3", nodes)
	}
}
