package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env is a fake environment for Load's getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// writeYAML writes a config file into a fresh temp dir and returns its path.
func writeYAML(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "glint.yml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fullYAML = `
http_addr: 127.0.0.1:9090
udp_port: 9000
ice_tcp: false
public_ips: [203.0.113.7]
ice_ips: [10.0.0.2, "::1"]
ice_interfaces: [eth0]
ice_servers: ["stun:stun.example.com:3478", "turns:turn.example.com?transport=tcp"]
udp_read_buffer: 1048576
udp_batch_send: false
udp_send_lanes: 3
viewer_bwe: remb
ice_timeout: 5s
publisher_policy: replace
room_tokens:
  lobby: s3cret
  quiz-1: t0ken
cors_origin: https://example.com
pli_interval: 250ms
join_cache_age: 600ms
shutdown_timeout: 3s
log_level: debug
log_format: json
hls: false
hls_segment: 4s
hls_part: 500ms
dvr: false
data_dir: /srv/glint
dvr_window: 1h
dvr_max_age: 48h
dvr_max_bytes: 1TB
dvr_room_max_bytes: 10GiB
dvr_room_windows:
  studio: 6h
dvr_s3_endpoint: 127.0.0.1:7070
dvr_s3_bucket: glint
dvr_s3_region: eu-west-1
dvr_s3_access_key: AK
dvr_s3_secret_key: SK
dvr_s3_insecure: true
hls_mode: on-demand
hls_room_modes:
  stage: always
hls_idle: 2m
event_types: [goal, message]
event_rate: 2
event_burst: 4
action_tolerance: 100ms
event_sockets: 500
limit_rate_per_ip: 5
limit_sessions_per_ip: 3
limit_viewers: 900
trusted_proxies: [10.0.0.0/8]
http_idle_timeout: 1m
access_log: true
cluster_secret: 0123456789abcdef0123
relay_linger: 10s
relay_fanout: 3
`

func fullConfig() Config {
	return Config{
		HTTPAddr:        "127.0.0.1:9090",
		UDPPort:         9000,
		ICETCP:          false,
		PublicIPs:       []string{"203.0.113.7"},
		ICEIPs:          []string{"10.0.0.2", "::1"},
		ICEInterfaces:   []string{"eth0"},
		ICEServers:      []string{"stun:stun.example.com:3478", "turns:turn.example.com?transport=tcp"},
		UDPReadBuffer:   1 << 20,
		UDPBatchSend:    false,
		UDPSendLanes:    3,
		ViewerBWE:       "remb",
		ICETimeout:      5 * time.Second,
		PublisherPolicy: PolicyReplace,
		RoomTokens:      map[string]string{"lobby": "s3cret", "quiz-1": "t0ken"},
		RTMPAddr:        ":1935",
		SRTAddr:         ":9000",
		StreamKeys:      map[string]string{},
		CORSOrigin:      "https://example.com",
		PLIInterval:     250 * time.Millisecond,
		JoinCacheAge:    600 * time.Millisecond,
		ShutdownTimeout: 3 * time.Second,
		LogLevel:        "debug",
		LogFormat:       "json",
		HLS:             false,
		HLSSegment:      4 * time.Second,
		HLSPart:         500 * time.Millisecond,
		DVR:             false,
		DataDir:         "/srv/glint",
		DVRWindow:       time.Hour,
		DVRMaxAge:       48 * time.Hour,
		DVRMaxBytes:     1e12,
		DVRRoomMaxBytes: 10 << 30,
		DVRRoomWindows:  map[string]string{"studio": "6h"},
		Auth:            defaultAuth(),
		Failover:        defaultFailover(),
		DVRS3: S3Settings{Endpoint: "127.0.0.1:7070", Bucket: "glint", Region: "eu-west-1", AccessKey: "AK",
			SecretKey: "SK", Insecure: true},
		HLSModeSettings: HLSModeSettings{HLSMode: HLSOnDemand, HLSRoomModes: map[string]string{"stage": HLSAlways},
			HLSIdle: 2 * time.Minute, HLSJoinKeyframe: true},
		Events: EventSettings{EventTypes: []string{"goal", "message"}, EventRate: 2, EventBurst: 4,
			ActionTolerance: 100 * time.Millisecond, EventSockets: 500},
		Limits:          fullLimits(),
		LatencySettings: defaultLatency(),
		Relay:           RelaySettings{ClusterSecret: "0123456789abcdef0123", RelayLinger: 10 * time.Second, RelayFanout: 3},
	}
}

func fullLimits() Limits {
	l := defaultLimits()
	l.RatePerIP, l.SessionsPerIP, l.Viewers, l.TrustedProxies = 5, 3, 900, []string{"10.0.0.0/8"}
	l.IdleTimeout, l.AccessLog = time.Minute, true
	return l
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		yaml string // written to a file passed as --config when not empty
		env  env
		args []string
		want func() Config
	}{
		{name: "defaults", want: Defaults},
		{name: "empty file keeps defaults", yaml: "# nothing\n", want: Defaults},
		{name: "file sets every value", yaml: fullYAML, want: fullConfig},
		{
			name: "viewer-bwe transport-cc", args: []string{"--viewer-bwe=transport-cc"},
			want: func() Config { c := Defaults(); c.ViewerBWE = "transport-cc"; return c },
		},
		{
			name: "file named by GLINT_CONFIG", yaml: "udp_port: 9001\n", env: env{"GLINT_CONFIG": "@file"},
			want: func() Config { c := Defaults(); c.UDPPort = 9001; return c },
		},
		{
			name: "env overrides the file",
			yaml: fullYAML,
			env: env{
				"GLINT_UDP_PORT": "9100", "GLINT_ICE_TCP": "true", "GLINT_LOG_LEVEL": "warn",
				"GLINT_PUBLISHER_POLICY": "reject", "GLINT_ICE_TIMEOUT": "7s", "GLINT_HTTP_ADDR": ":8181",
			},
			want: func() Config {
				c := fullConfig()
				c.UDPPort, c.ICETCP, c.LogLevel, c.PublisherPolicy = 9100, true, "warn", PolicyReject
				c.ICETimeout, c.HTTPAddr = 7*time.Second, ":8181"
				return c
			},
		},
		{
			name: "flags override env and file",
			yaml: fullYAML,
			env:  env{"GLINT_UDP_PORT": "9100", "GLINT_LOG_LEVEL": "warn", "GLINT_CORS_ORIGIN": "https://env.example"},
			args: []string{"--udp-port", "9200", "-log-level=error", "--ice-tcp=true", "--pli-interval=1s"},
			want: func() Config {
				c := fullConfig()
				c.UDPPort, c.LogLevel, c.CORSOrigin, c.ICETCP, c.PLIInterval = 9200, "error", "https://env.example", true, time.Second
				return c
			},
		},
		{
			name: "--config=path form", yaml: "log_format: json\n", args: []string{"--config=@file"},
			want: func() Config { c := Defaults(); c.LogFormat = "json"; return c },
		},
		{
			name: "--config wins over GLINT_CONFIG", yaml: "log_format: json\n",
			env: env{"GLINT_CONFIG": "/nonexistent/glint.yml"}, args: []string{"-config", "@file"},
			want: func() Config { c := Defaults(); c.LogFormat = "json"; return c },
		},
		{
			name: "--room-token is repeatable",
			args: []string{"--room-token", "a=b", "--room-token=c=d", "--room-token", "e=f,g=h"},
			want: func() Config {
				c := Defaults()
				c.RoomTokens = map[string]string{"a": "b", "c": "d", "e": "f", "g": "h"}
				return c
			},
		},
		{
			name: "--room-token adds to the file's tokens and replaces the same room",
			yaml: "room_tokens: {lobby: old, stage: s}\n", args: []string{"--room-token", "lobby=new"},
			want: func() Config {
				c := Defaults()
				c.RoomTokens = map[string]string{"lobby": "new", "stage": "s"}
				return c
			},
		},
		{
			name: "list flags take commas and repeat",
			args: []string{"--public-ip", "192.0.2.1, 192.0.2.2", "--public-ip", "2001:db8::1", "--ice-server", "stun:a,turn:b"},
			want: func() Config {
				c := Defaults()
				c.PublicIPs = []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"}
				c.ICEServers = []string{"stun:a", "turn:b"}
				return c
			},
		},
		{
			name: "udp-port 0 picks a free port", args: []string{"--udp-port=0"},
			want: func() Config { c := Defaults(); c.UDPPort = 0; return c },
		},
		{
			name: "null room_tokens in the file", yaml: "room_tokens:\n",
			want: Defaults,
		},
		{
			name: "ingest from flags", args: []string{"--rtmp-addr=", "--srt-addr", "127.0.0.1:9999", "--stream-key", "studio=k1,*=k2", "--srt-passphrase", "0123456789ab"},
			want: func() Config {
				c := Defaults()
				c.RTMPAddr, c.SRTAddr, c.SRTPassphrase = "", "127.0.0.1:9999", "0123456789ab"
				c.StreamKeys = map[string]string{"studio": "k1", "*": "k2"}
				return c
			},
		},
		{
			name: "--hls=false turns LL-HLS off", args: []string{"--hls=false"},
			want: func() Config { c := Defaults(); c.HLS = false; return c },
		},
		{
			name: "HLS durations from flags", args: []string{"--hls-segment", "1s", "--hls-part=200ms"},
			want: func() Config { c := Defaults(); c.HLSSegment, c.HLSPart = time.Second, 200*time.Millisecond; return c },
		},
		{
			name: "HLS from env overrides the file", yaml: "hls: false\nhls_part: 250ms\n",
			env: env{"GLINT_HLS": "true", "GLINT_HLS_SEGMENT": "6s"},
			want: func() Config {
				c := Defaults()
				c.HLSSegment, c.HLSPart = 6*time.Second, 250*time.Millisecond
				return c
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, e := withFile(t, tt.yaml, tt.args, tt.env)
			var out bytes.Buffer
			got, err := Load(args, e.get, &out)
			if err != nil {
				t.Fatalf("Load: %v\n%s", err, out.String())
			}
			if want := tt.want(); !reflect.DeepEqual(got, want) {
				t.Fatalf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// withFile writes yaml (if any) and replaces "@file" in args and env values by its path.
// With no "@file" anywhere, --config <path> is prepended.
func withFile(t *testing.T, yaml string, args []string, e env) ([]string, env) {
	t.Helper()
	args = append([]string(nil), args...)
	e2 := env{}
	for k, v := range e {
		e2[k] = v
	}
	if yaml == "" {
		return args, e2
	}
	path := writeYAML(t, yaml)
	used := false
	for i, a := range args {
		if strings.Contains(a, "@file") {
			args[i], used = strings.ReplaceAll(a, "@file", path), true
		}
	}
	for k, v := range e2 {
		if v == "@file" {
			e2[k], used = path, true
		}
	}
	if !used {
		args = append([]string{"--config", path}, args...)
	}
	return args, e2
}

// loadCase is one Load of a table test: a config file (yaml, none when empty), the
// environment and the flags, and what the test wants of the result.
type loadCase struct {
	name string
	yaml string
	env  env
	args []string
	want []string
}

// TestLoadListPrecedence: a list set by a higher layer replaces the lower layer's list, as
// for every other option (flags > environment > file > defaults).
func TestLoadListPrecedence(t *testing.T) {
	tests := []loadCase{ // want: PublicIPs
		{"env replaces file", "public_ips: [192.0.2.1]\n", env{"GLINT_PUBLIC_IP": "192.0.2.2"}, nil, []string{"192.0.2.2"}},
		{"flag replaces env", "", env{"GLINT_PUBLIC_IP": "192.0.2.2"}, []string{"--public-ip", "192.0.2.3"}, []string{"192.0.2.3"}},
		{"flag replaces file", "public_ips: [192.0.2.1]\n", nil, []string{"--public-ip", "192.0.2.3"}, []string{"192.0.2.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, e := withFile(t, tt.yaml, tt.args, tt.env)
			got, err := Load(args, e.get, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.PublicIPs, tt.want) {
				t.Fatalf("PublicIPs = %q, want %q", got.PublicIPs, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []loadCase{ // want: substrings of the error
		{name: "rtmp-addr bad", args: []string{"--rtmp-addr=nonsense"}, want: []string{"rtmp-addr", "nonsense"}},
		{name: "event-types bad type", args: []string{"--event-types", "goal,Bad Type"}, want: []string{"event-types", "Bad Type"}},
		{name: "event-types empty", args: []string{"--event-types", ""}, want: []string{"event-types"}},
		{name: "event-rate zero", args: []string{"--event-rate=0"}, want: []string{"event-rate"}},
		{name: "action-tolerance too large", args: []string{"--action-tolerance=1m"}, want: []string{"action-tolerance"}},
		{name: "event-sockets zero", yaml: "event_sockets: 0\n", want: []string{"event-sockets"}},
		{name: "stream-key bad room", args: []string{"--stream-key", "a b=k"}, want: []string{"stream-key", "invalid room name"}},
		{name: "stream-key empty key", args: []string{"--stream-key", "room="}, want: []string{"stream-key", "empty key"}},
		{name: "srt-passphrase too short", args: []string{"--srt-passphrase", "short"}, want: []string{"srt-passphrase", "10-79"}},
		{name: "udp-port too big", args: []string{"--udp-port=70000"}, want: []string{"udp-port", "70000"}},
		{name: "udp-port negative", args: []string{"--udp-port=-1"}, want: []string{"udp-port"}},
		{name: "udp-port not a number", args: []string{"--udp-port", "abc"}, want: []string{"udp-port", "abc"}},
		{name: "udp-port bad in env", env: env{"GLINT_UDP_PORT": "abc"}, want: []string{"GLINT_UDP_PORT", "abc"}},
		{name: "udp-port too big in file", yaml: "udp_port: 70000\n", want: []string{"udp-port", "70000"}},
		{name: "public-ip not an IP", args: []string{"--public-ip", "1.2.3"}, want: []string{"public-ip", "1.2.3"}},
		{name: "public-ip hostname in env", env: env{"GLINT_PUBLIC_IP": "example.com"}, want: []string{"public-ip", "example.com"}},
		{name: "ice-ip not an IP", args: []string{"--ice-ip", "10.0.0.300"}, want: []string{"ice-ip"}},
		{name: "ice-server http scheme", args: []string{"--ice-server", "http://stun.example.com"}, want: []string{"ice-server", "http://stun.example.com"}},
		{name: "ice-server without scheme", yaml: "ice_servers: [stun.example.com]\n", want: []string{"ice-server"}},
		{name: "publisher-policy unknown", args: []string{"--publisher-policy", "steal"}, want: []string{"publisher-policy", "steal"}},
		{name: "publisher-policy unknown in env", env: env{"GLINT_PUBLISHER_POLICY": "kick"}, want: []string{"publisher-policy", "kick"}},
		{name: "log-level unknown", args: []string{"--log-level=verbose"}, want: []string{"log-level", "verbose"}},
		{name: "log-format unknown", args: []string{"--log-format=xml"}, want: []string{"log-format", "xml"}},
		{name: "http-addr without port", args: []string{"--http-addr=localhost"}, want: []string{"http-addr"}},
		{name: "udp-read-buffer too small", args: []string{"--udp-read-buffer=1024"}, want: []string{"udp-read-buffer"}},
		{name: "udp-send-lanes negative", args: []string{"--udp-send-lanes=-1"}, want: []string{"udp-send-lanes", "-1"}},
		{name: "udp-send-lanes too many", yaml: "udp_send_lanes: 65\n", want: []string{"udp-send-lanes", "65"}},
		{name: "viewer-bwe unknown", args: []string{"--viewer-bwe=bogus"}, want: []string{"viewer-bwe"}},
		{name: "ice-timeout zero", args: []string{"--ice-timeout=0s"}, want: []string{"ice-timeout"}},
		{name: "pli-interval negative", yaml: "pli_interval: -1s\n", want: []string{"pli-interval"}},
		{name: "join-cache-age negative", yaml: "join_cache_age: -1s\n", want: []string{"join-cache-age"}},
		{name: "shutdown-timeout not a duration", args: []string{"--shutdown-timeout=soon"}, want: []string{"shutdown-timeout"}},
		{name: "room-token bad room name in file", yaml: "room_tokens:\n  \"bad room\": x\n", want: []string{"room-token", "bad room"}},
		{name: "room-token room name with slash", args: []string{"--room-token", "a/b=x"}, want: []string{"room-token", "a/b"}},
		{name: "room-token empty room", args: []string{"--room-token", "=x"}, want: []string{"room-token"}},
		{name: "room-token empty token", args: []string{"--room-token", "lobby="}, want: []string{"room-token", "lobby", "empty token"}},
		{name: "room-token without =", args: []string{"--room-token", "lobby"}, want: []string{"room-token", "lobby"}},
		{name: "hls-segment too short", args: []string{"--hls-segment=500ms"}, want: []string{"hls-segment", "500ms"}},
		{name: "hls-segment too long in file", yaml: "hls_segment: 11s\n", want: []string{"hls-segment", "11s"}},
		{name: "hls-segment not a duration", env: env{"GLINT_HLS_SEGMENT": "2"}, want: []string{"GLINT_HLS_SEGMENT"}},
		{name: "hls-part too short", args: []string{"--hls-part=100ms"}, want: []string{"hls-part", "100ms"}},
		{name: "hls-part too long", args: []string{"--hls-part=2s", "--hls-segment=6s"}, want: []string{"hls-part", "2s"}},
		{name: "hls-part above half a segment", args: []string{"--hls-segment=1s", "--hls-part=600ms"}, want: []string{"hls-part", "half"}},
		{name: "hls not a bool", args: []string{"--hls=maybe"}, want: []string{"hls", "maybe"}},
		{name: "unknown flag", args: []string{"--udp-prot=1"}, want: []string{"udp-prot"}},
		{name: "positional argument", args: []string{"extra"}, want: []string{"extra"}},
		{name: "missing config file", args: []string{"--config", "/nonexistent/glint.yml"}, want: []string{"config file", "/nonexistent/glint.yml"}},
		{name: "config file is not YAML", yaml: "udp_port: [\n", want: []string{"config file"}},
		{
			name: "unknown YAML key", yaml: "udp_prot: 9000\n", want: []string{"config file", "udp_prot"},
		},
		{
			name: "YAML value of the wrong type", yaml: "udp_port: abc\n", want: []string{"config file", "abc"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, e := withFile(t, tt.yaml, tt.args, tt.env)
			_, err := Load(args, e.get, &bytes.Buffer{})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

// TestLoadUnknownYAMLKeyRejected holds while the message is short of the key: the file is
// refused, on one line, and the refusal names the file.
func TestLoadUnknownYAMLKeyRejected(t *testing.T) {
	path := writeYAML(t, "udp_port: 9000\nudp_prot: 9001\n")
	_, err := Load([]string{"--config", path}, env{}.get, &bytes.Buffer{})
	if err == nil {
		t.Fatal("unknown key accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, path) || strings.Contains(msg, "\n") {
		t.Fatalf("error %q: want one line naming %s", msg, path)
	}
}

func TestLoadHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"--udp-port=9000", "--help"}} {
		var out bytes.Buffer
		_, err := Load(args, env{}.get, &out)
		if !errors.Is(err, ErrHelp) {
			t.Errorf("Load(%q) err = %v, want ErrHelp", args, err)
		}
		for _, w := range []string{"Usage: glint serve", "GLINT_HTTP_ADDR", "-udp-port", "-room-token", "-hls", "-hls-segment", "-hls-part"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("Load(%q): usage does not mention %q", args, w)
			}
		}
	}
}

func TestLoadHelpWithBrokenConfig(t *testing.T) {
	_, err := Load([]string{"--help"}, env{"GLINT_CONFIG": "/nonexistent/glint.yml"}.get, &bytes.Buffer{})
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
}

func TestLoadDoesNotReadProcessEnv(t *testing.T) {
	t.Setenv("GLINT_UDP_PORT", "1234")
	got, err := Load(nil, env{}.get, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UDPPort != Defaults().UDPPort {
		t.Fatalf("UDPPort = %d: Load read the process environment", got.UDPPort)
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]string{"debug": "DEBUG", "info": "INFO", "WARN": "WARN", "error": "ERROR"} {
		c := Defaults()
		c.LogLevel = level
		if got := c.SlogLevel().String(); got != want {
			t.Errorf("SlogLevel(%q) = %s, want %s", level, got, want)
		}
	}
}
