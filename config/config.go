// Package config owns Glint's one configuration struct: the defaults from DESIGN.md, a YAML
// file, GLINT_* environment variables and command-line flags (in that order of precedence,
// flags winning), and validation that rejects bad values at start with a one-line reason;
// and the per-room policy derived from it (RoomSettings).
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Publisher policies: what happens when a second publisher arrives at a live room.
const (
	PolicyReject  = "reject"
	PolicyReplace = "replace"
)

// Config is everything `glint serve` can be told.
type Config struct {
	HTTPAddr        string            `yaml:"http_addr"`
	UDPPort         int               `yaml:"udp_port"`
	ICETCP          bool              `yaml:"ice_tcp"`
	PublicIPs       []string          `yaml:"public_ips"`
	ICEIPs          []string          `yaml:"ice_ips"`
	ICEInterfaces   []string          `yaml:"ice_interfaces"`
	ICEServers      []string          `yaml:"ice_servers"`
	UDPReadBuffer   int               `yaml:"udp_read_buffer"`
	UDPBatchSend    bool              `yaml:"udp_batch_send"`
	UDPSendLanes    int               `yaml:"udp_send_lanes"`
	ViewerBWE       string            `yaml:"viewer_bwe"`
	ICETimeout      time.Duration     `yaml:"ice_timeout"`
	PublisherPolicy string            `yaml:"publisher_policy"`
	RoomTokens      map[string]string `yaml:"room_tokens"`
	RTMPAddr        string            `yaml:"rtmp_addr"`
	SRTAddr         string            `yaml:"srt_addr"`
	StreamKeys      map[string]string `yaml:"stream_keys"`
	SRTPassphrase   string            `yaml:"srt_passphrase"`
	CORSOrigin      string            `yaml:"cors_origin"`
	PLIInterval     time.Duration     `yaml:"pli_interval"`
	JoinCacheAge    time.Duration     `yaml:"join_cache_age"`
	ShutdownTimeout time.Duration     `yaml:"shutdown_timeout"`
	LogLevel        string            `yaml:"log_level"`
	LogFormat       string            `yaml:"log_format"`
	HLS             bool              `yaml:"hls"`
	HLSSegment      time.Duration     `yaml:"hls_segment"`
	HLSPart         time.Duration     `yaml:"hls_part"`
	HLSLadder       string            `yaml:"hls_ladder"`
	HLSRoomLadders  map[string]string `yaml:"hls_room_ladders"`
	TLSCert         string            `yaml:"tls_cert"`
	TLSKey          string            `yaml:"tls_key"`
	DVR             bool              `yaml:"dvr"`
	DataDir         string            `yaml:"data_dir"`
	DVRWindow       time.Duration     `yaml:"dvr_window"`
	DVRRoomWindows  map[string]string `yaml:"dvr_room_windows"`
	DVRMaxAge       time.Duration     `yaml:"dvr_max_age"`
	DVRMaxBytes     ByteSize          `yaml:"dvr_max_bytes"`
	DVRRoomMaxBytes ByteSize          `yaml:"dvr_room_max_bytes"`
	DVRS3           S3Settings        `yaml:",inline"`
	HLSModeSettings `yaml:",inline"`
	Events          EventSettings   `yaml:",inline"`
	Auth            AuthSettings    `yaml:",inline"`
	Cluster         ClusterSettings `yaml:",inline"`
	Limits          Limits          `yaml:",inline"`
	LatencySettings `yaml:",inline"`
	Relay           RelaySettings    `yaml:",inline"`
	Failover        FailoverSettings `yaml:",inline"`
}

// Defaults returns the configuration a user gets with no file, env or flags (DESIGN.md).
func Defaults() Config {
	return Config{
		HTTPAddr:        ":8080",
		UDPPort:         8189,
		ICETCP:          true,
		UDPReadBuffer:   8 << 20,
		UDPBatchSend:    true,
		ViewerBWE:       "gcc",
		ICETimeout:      10 * time.Second,
		PublisherPolicy: PolicyReject,
		RoomTokens:      map[string]string{},
		RTMPAddr:        ":1935",
		SRTAddr:         ":9000",
		StreamKeys:      map[string]string{},
		CORSOrigin:      "*",
		PLIInterval:     500 * time.Millisecond,
		JoinCacheAge:    time.Second,
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        "info",
		LogFormat:       "text",
		HLS:             true,
		HLSSegment:      2 * time.Second,
		HLSPart:         200 * time.Millisecond, // hls.js targets 3 parts (0.6 s) behind the edge: docs/llhls-latency.md
		DVR:             true,
		DataDir:         "./data",
		DVRWindow:       2 * time.Hour,
		DVRMaxAge:       24 * time.Hour,
		HLSModeSettings: defaultHLSModes(),
		Events:          defaultEventSettings(),
		Auth:            defaultAuth(),
		Limits:          defaultLimits(),
		LatencySettings: defaultLatency(),
		Relay:           RelaySettings{RelayLinger: 30 * time.Second, RelayFanout: DefaultRelayFanout},
		Failover:        defaultFailover(),
	}
}

var roomNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidRoomName reports whether name is a legal room name: 1-64 characters of [A-Za-z0-9_-],
// starting with a letter or digit.
func ValidRoomName(name string) bool { return roomNamePattern.MatchString(name) }

// Validate checks every option and returns the first problem as a one-line error.
func (c *Config) Validate() error {
	checks := []func() error{
		func() error { return validateHostPort("http-addr", c.HTTPAddr) },
		func() error {
			if c.UDPPort < 0 || c.UDPPort > 65535 {
				return fmt.Errorf("udp-port %d: must be 0-65535 (0 picks a free port)", c.UDPPort)
			}
			return nil
		},
		func() error { return validateIPs("public-ip", c.PublicIPs) },
		func() error { return validateIPs("ice-ip", c.ICEIPs) },
		c.validateICEServers,
		func() error {
			if c.UDPReadBuffer < 64<<10 {
				return fmt.Errorf("udp-read-buffer %d: must be at least 65536 bytes", c.UDPReadBuffer)
			}
			return nil
		},
		func() error {
			if c.UDPSendLanes < 0 || c.UDPSendLanes > 64 {
				return fmt.Errorf("udp-send-lanes %d: must be 0-64 (0: one per core, at most 8)", c.UDPSendLanes)
			}
			return nil
		},
		func() error { return positive("ice-timeout", c.ICETimeout) },
		func() error { return positive("pli-interval", c.PLIInterval) },
		func() error {
			if c.JoinCacheAge < 0 {
				return fmt.Errorf("join-cache-age %v: must not be negative (0: always request a keyframe)", c.JoinCacheAge)
			}
			return nil
		},
		func() error { return positive("shutdown-timeout", c.ShutdownTimeout) },
		c.validatePublisherPolicy,
		func() error {
			if c.ViewerBWE != "transport-cc" && c.ViewerBWE != "gcc" && c.ViewerBWE != "remb" {
				return fmt.Errorf("viewer-bwe %q: must be transport-cc, gcc or remb", c.ViewerBWE)
			}
			return nil
		},
		c.validateRoomTokens,
		c.validateIngest,
		func() error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
				return fmt.Errorf("log-level %q: must be debug, info, warn or error", c.LogLevel)
			}
			return nil
		},
		func() error {
			if c.LogFormat != "text" && c.LogFormat != "json" {
				return fmt.Errorf("log-format %q: must be text or json", c.LogFormat)
			}
			return nil
		},
		c.validateHLS,
		c.validateTLS,
		c.validateLadders,
		c.validateDVR,
		c.validateHLSModes,
		c.validateEvents,
		c.validateAuth,
		c.validateCluster,
		c.validateLimits,
		c.validateLatency,
		c.validateRelay,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func validateHostPort(name, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: want host:port or :port", name, addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%s %q: bad port", name, addr)
	}
	return nil
}

func validateIPs(name string, ips []string) error {
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("%s %q: not an IP address", name, ip)
		}
	}
	return nil
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s %s: must be positive", name, d)
	}
	return nil
}

func (c *Config) validateICEServers() error {
	for _, s := range c.ICEServers {
		scheme, _, _ := strings.Cut(s, ":")
		switch scheme {
		case "stun", "stuns", "turn", "turns":
		default:
			return fmt.Errorf("ice-server %q: must start with stun:, stuns:, turn: or turns:", s)
		}
	}
	return nil
}

func (c *Config) validateRoomTokens() error {
	for room, token := range c.RoomTokens {
		if !ValidRoomName(room) {
			return fmt.Errorf("room-token %q: invalid room name (1-64 of A-Z a-z 0-9 _ -)", room)
		}
		if token == "" {
			return fmt.Errorf("room-token %q: empty token", room)
		}
	}
	return nil
}

// validateHLS checks the LL-HLS durations (also when HLS is off, so that turning it on
// later cannot fail): segments of 1-10 s, parts of 200 ms-1 s and at most half a segment.
func (c *Config) validateHLS() error {
	if c.HLSSegment < time.Second || c.HLSSegment > 10*time.Second {
		return fmt.Errorf("hls-segment %s: must be 1s-10s", c.HLSSegment)
	}
	if c.HLSPart < 200*time.Millisecond || c.HLSPart > time.Second {
		return fmt.Errorf("hls-part %s: must be 200ms-1s", c.HLSPart)
	}
	if c.HLSPart > c.HLSSegment/2 {
		return fmt.Errorf("hls-part %s: must be at most half of hls-segment %s", c.HLSPart, c.HLSSegment)
	}
	return nil
}

// validateTLS checks that the certificate and key come together and load as a pair.
func (c *Config) validateTLS() error {
	switch {
	case c.TLSCert == "" && c.TLSKey == "":
		return nil
	case c.TLSCert == "" || c.TLSKey == "":
		return errors.New("tls-cert and tls-key: give both or neither")
	}
	if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
		return fmt.Errorf("tls-cert %s / tls-key %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return nil
}

// TLS reports whether the HTTP listener serves HTTPS.
func (c *Config) TLS() bool { return c.TLSCert != "" }

// validateIngest checks the RTMP/SRT options; an empty address turns that listener off.
func (c *Config) validateIngest() error {
	for name, addr := range map[string]string{"rtmp-addr": c.RTMPAddr, "srt-addr": c.SRTAddr} {
		if addr != "" {
			if err := validateHostPort(name, addr); err != nil {
				return err
			}
		}
	}
	for room, key := range c.StreamKeys {
		if room != "*" && !ValidRoomName(room) {
			return fmt.Errorf("stream-key %q: invalid room name (1-64 of A-Z a-z 0-9 _ -, or * for every other room)", room)
		}
		if key == "" {
			return fmt.Errorf("stream-key %q: empty key", room)
		}
	}
	if n := len(c.SRTPassphrase); n != 0 && (n < 10 || n > 79) {
		return fmt.Errorf("srt-passphrase: %d characters, SRT wants 10-79", n)
	}
	return nil
}

// SlogLevel returns the configured log level (valid after Validate).
func (c *Config) SlogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// ErrHelp is returned by Load when -h/--help was asked for; the usage has been printed.
var ErrHelp = errors.New("help requested")
