package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestRelaySettings: defaults, the secret from the environment, the linger flag, and the
// errors.
func TestRelaySettings(t *testing.T) {
	if def := Defaults().Relay; def.ClusterSecret != "" || def.RelayLinger != 30*time.Second {
		t.Errorf("relay defaults: %+v", def)
	}
	env := map[string]string{"GLINT_CLUSTER_SECRET": "0123456789abcdef-secret"}
	c, err := Load([]string{"--relay-linger=5s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Relay.ClusterSecret != env["GLINT_CLUSTER_SECRET"] || c.Relay.RelayLinger != 5*time.Second {
		t.Errorf("loaded: %+v", c.Relay)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-secret=short"}, "at least 16"},
		{[]string{"--relay-linger=0s"}, "relay-linger"},
	} {
		_, err := Load(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}
