package config

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Limits are the node's admission limits and HTTP timeouts (docs/limits.md). A 0 maximum
// means unlimited. The defaults do not limit normal use: they stop one client from taking
// the node, not an audience from joining.
type Limits struct {
	RatePerIP          float64       `yaml:"limit_rate_per_ip"`           // signaling requests per second per client IP
	RateBurstPerIP     int           `yaml:"limit_rate_burst_per_ip"`     // bucket size of limit_rate_per_ip
	RatePerToken       float64       `yaml:"limit_rate_per_token"`        // signaling requests per second per bearer token
	RateBurstPerToken  int           `yaml:"limit_rate_burst_per_token"`  // bucket size of limit_rate_per_token
	SessionsPerIP      int           `yaml:"limit_sessions_per_ip"`       // WHIP + WHEP sessions per client IP
	Rooms              int           `yaml:"limit_rooms"`                 // rooms on this node
	ViewersPerRoom     int           `yaml:"limit_viewers_per_room"`      // WHEP viewers of one room
	Viewers            int           `yaml:"limit_viewers"`               // WHEP viewers on this node
	HLSBlockedPerIP    int           `yaml:"limit_hls_blocked_per_ip"`    // LL-HLS requests waiting at once per client IP
	EventWatchersPerIP int           `yaml:"limit_event_watchers_per_ip"` // open event streams per client IP
	EventWatchers      int           `yaml:"limit_event_watchers"`        // open event streams on this node
	TrustedProxies     []string      `yaml:"trusted_proxies"`             // CIDRs whose X-Forwarded-For is believed
	Exempt             []string      `yaml:"limit_exempt"`                // CIDRs of clients the per-IP limits skip
	ReadyMaxLoad       float64       `yaml:"ready_max_load"`              // /readyz 503 at this 1-min load per CPU (0: off)
	ReadHeaderTimeout  time.Duration `yaml:"http_read_header_timeout"`
	ReadTimeout        time.Duration `yaml:"http_read_timeout"`
	IdleTimeout        time.Duration `yaml:"http_idle_timeout"`
	MaxHeaderBytes     int           `yaml:"http_max_header_bytes"`
	AccessLog          bool          `yaml:"access_log"`
}

// defaultLimits are the limits of a node with no configuration.
func defaultLimits() Limits {
	return Limits{
		RatePerIP: 20, RateBurstPerIP: 40,
		SessionsPerIP:      50,
		HLSBlockedPerIP:    100,
		EventWatchersPerIP: 20, EventWatchers: 10000,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 32 << 10,
		Exempt:         []string{"127.0.0.0/8", "::1"},
	}
}

// bindLimits binds the limits' flags.
func (c *Config) bindLimits(fs *flag.FlagSet, list func(*[]string) *listValue) {
	l := &c.Limits
	fs.Float64Var(&l.RatePerIP, "limit-rate-per-ip", l.RatePerIP, "signaling requests (WHIP/WHEP offers, PATCH, layer, /api/*) per second per client IP; over it: 429 with Retry-After; 0: unlimited")
	fs.IntVar(&l.RateBurstPerIP, "limit-rate-burst-per-ip", l.RateBurstPerIP, "burst of --limit-rate-per-ip")
	fs.Float64Var(&l.RatePerToken, "limit-rate-per-token", l.RatePerToken, "signaling requests per second per bearer token; 0: unlimited (the default: a room token may be shared by a whole audience)")
	fs.IntVar(&l.RateBurstPerToken, "limit-rate-burst-per-token", l.RateBurstPerToken, "burst of --limit-rate-per-token (0: twice the rate)")
	fs.IntVar(&l.SessionsPerIP, "limit-sessions-per-ip", l.SessionsPerIP, "WHIP and WHEP sessions one client IP may hold; over it: 429; 0: unlimited")
	fs.IntVar(&l.Rooms, "limit-rooms", l.Rooms, "rooms this node holds (a publish into a new room over it: 503); 0: unlimited")
	fs.IntVar(&l.ViewersPerRoom, "limit-viewers-per-room", l.ViewersPerRoom, "WHEP viewers of one room (over it: 503); 0: unlimited")
	fs.IntVar(&l.Viewers, "limit-viewers", l.Viewers, "WHEP viewers on this node (over it: 503, and /readyz 503 while full); 0: unlimited")
	fs.IntVar(&l.HLSBlockedPerIP, "limit-hls-blocked-per-ip", l.HLSBlockedPerIP, "LL-HLS requests (blocking playlist reloads, hinted parts) one client IP may have waiting; over it: 429 at once; 0: unlimited")
	fs.IntVar(&l.EventWatchersPerIP, "limit-event-watchers-per-ip", l.EventWatchersPerIP, "room event streams (SSE) one client IP may hold open; over it: 429; 0: unlimited")
	fs.IntVar(&l.EventWatchers, "limit-event-watchers", l.EventWatchers, "room event streams open on this node; over it: 503; 0: unlimited")
	fs.Var(list(&l.TrustedProxies), "trusted-proxy", "CIDR(s) of proxies/CDNs whose X-Forwarded-For names the client for the per-IP limits and the access log, comma-separated; empty: the connection's address")
	fs.Var(list(&l.Exempt), "limit-exempt", "CIDR(s) of clients the per-IP limits (rate, sessions, waiting LL-HLS requests, event streams) do not apply to, comma-separated; they still count toward the node's limits; default: this machine (a local proxy or load generator); empty: none")
	fs.Float64Var(&l.ReadyMaxLoad, "ready-max-load", l.ReadyMaxLoad, "/readyz answers 503 while the 1-minute load average per CPU is at least this; 0: off")
	fs.DurationVar(&l.ReadHeaderTimeout, "http-read-header-timeout", l.ReadHeaderTimeout, "a client has this long to send a request's headers (slowloris)")
	fs.DurationVar(&l.ReadTimeout, "http-read-timeout", l.ReadTimeout, "a client has this long to send a whole request, body included")
	fs.DurationVar(&l.IdleTimeout, "http-idle-timeout", l.IdleTimeout, "an idle keep-alive connection is closed after this long")
	fs.IntVar(&l.MaxHeaderBytes, "http-max-header-bytes", l.MaxHeaderBytes, "largest request header block (bytes); larger: 431")
	fs.BoolVar(&l.AccessLog, "access-log", l.AccessLog, "log one line per HTTP request (method, path without secrets, status, bytes, duration, remote, room, session)")
}

// validateLimits checks the limits.
func (c *Config) validateLimits() error {
	l := c.Limits
	if l.RatePerIP < 0 || l.RatePerToken < 0 || l.RateBurstPerIP < 0 || l.RateBurstPerToken < 0 {
		return fmt.Errorf("limit-rate-*: must not be negative (0: unlimited)")
	}
	if l.RatePerIP > 0 && l.RateBurstPerIP < 1 {
		return fmt.Errorf("limit-rate-burst-per-ip %d: must be at least 1 when limit-rate-per-ip is set", l.RateBurstPerIP)
	}
	for name, v := range map[string]int{
		"limit-sessions-per-ip": l.SessionsPerIP, "limit-rooms": l.Rooms, "limit-viewers-per-room": l.ViewersPerRoom,
		"limit-viewers": l.Viewers, "limit-hls-blocked-per-ip": l.HLSBlockedPerIP,
		"limit-event-watchers-per-ip": l.EventWatchersPerIP, "limit-event-watchers": l.EventWatchers,
	} {
		if v < 0 {
			return fmt.Errorf("%s %d: must not be negative (0: unlimited)", name, v)
		}
	}
	if _, err := l.TrustedPrefixes(); err != nil {
		return err
	}
	if _, err := l.ExemptPrefixes(); err != nil {
		return err
	}
	if l.ReadyMaxLoad < 0 {
		return fmt.Errorf("ready-max-load %g: must not be negative (0: off)", l.ReadyMaxLoad)
	}
	for name, d := range map[string]time.Duration{"http-read-header-timeout": l.ReadHeaderTimeout,
		"http-read-timeout": l.ReadTimeout, "http-idle-timeout": l.IdleTimeout} {
		if err := positive(name, d); err != nil {
			return err
		}
	}
	if l.MaxHeaderBytes < 4<<10 {
		return fmt.Errorf("http-max-header-bytes %d: must be at least 4096", l.MaxHeaderBytes)
	}
	return nil
}

// TrustedPrefixes parses TrustedProxies.
func (l Limits) TrustedPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("trusted-proxy", l.TrustedProxies)
}

// ExemptPrefixes parses Exempt.
func (l Limits) ExemptPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("limit-exempt", l.Exempt)
}

// parsePrefixes parses CIDRs; a bare address is a single-address prefix.
func parsePrefixes(flag string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q: want a CIDR such as 10.0.0.0/8 or an address", flag, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
