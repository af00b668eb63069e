package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestRelaySettings: defaults, the secret from the environment, the linger and fan-out flags, and the
// errors.
func TestRelaySettings(t *testing.T) {
	if def := Defaults().Relay; def.ClusterSecret != "" || def.RelayLinger != 30*time.Second || def.RelayFanout != 8 {
		t.Errorf("relay defaults: %+v", def)
	}
	env := map[string]string{"GLINT_CLUSTER_SECRET": "0123456789abcdef-secret"}
	c, err := Load([]string{"--relay-linger=5s", "--relay-fanout=2"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Relay.ClusterSecret != env["GLINT_CLUSTER_SECRET"] || c.Relay.RelayLinger != 5*time.Second || c.Relay.RelayFanout != 2 {
		t.Errorf("loaded: %+v", c.Relay)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-secret=short"}, "at least 16"},
		{[]string{"--relay-linger=0s"}, "relay-linger"},
		{[]string{"--relay-fanout=0"}, "relay-fanout 0"},
		{[]string{"--relay-fanout=5000"}, "relay-fanout 5000"},
	} {
		_, err := Load(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}
