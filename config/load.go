package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix is prepended to a flag's upper-cased, underscored name to form its env variable:
// --http-addr is GLINT_HTTP_ADDR.
const EnvPrefix = "GLINT_"

// Load builds the configuration from defaults, the YAML file named by --config (or
// GLINT_CONFIG), GLINT_* variables read through getenv, and args, then validates it.
// Usage goes to out on --help (ErrHelp is returned) and on a flag error.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := Defaults()
	fs := flag.NewFlagSet("glint serve", flag.ContinueOnError)
	fs.SetOutput(out)
	configPath := getenv(EnvPrefix + "CONFIG")
	fs.StringVar(&configPath, "config", configPath, "YAML config file (keys are the flag names with _ for -)")
	layer := 0 // which source is being applied: a list set by a later source replaces, not appends
	cfg.bind(fs, &layer)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: glint serve [flags]\n\nEvery flag can also be set as %s<NAME> (e.g. %sHTTP_ADDR) or in the YAML file.\nPrecedence: flags > environment > file > defaults.\n\n", EnvPrefix, EnvPrefix)
		fs.PrintDefaults()
	}

	if wantsHelp(args) {
		fs.Usage()
		return cfg, ErrHelp
	}
	if path := findConfigFlag(args, configPath); path != "" {
		if err := loadFile(path, &cfg); err != nil {
			return cfg, err
		}
	}
	layer++
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || envErr != nil {
			return
		}
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return cfg, envErr
	}
	layer++
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, ErrHelp
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (c *Config) bind(fs *flag.FlagSet, layer *int) {
	list := func(p *[]string) *listValue { return &listValue{items: p, layer: layer, setIn: -1} }
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address for WHIP, WHEP, pages, API, /metrics and /healthz")
	fs.IntVar(&c.UDPPort, "udp-port", c.UDPPort, "one UDP port for all WebRTC media (ICE UDP mux); ICE-TCP listens on the same number; 0 picks a free port")
	fs.BoolVar(&c.ICETCP, "ice-tcp", c.ICETCP, "also accept ICE over TCP on the udp-port number")
	fs.Var(list(&c.PublicIPs), "public-ip", "public IP(s) to announce as host candidates (NAT 1:1), comma-separated")
	fs.Var(list(&c.ICEIPs), "ice-ip", "only gather ICE candidates on these local IPs (allow-list), comma-separated; empty = all")
	fs.Var(list(&c.ICEInterfaces), "ice-interface", "only gather ICE candidates on these interfaces (allow-list), comma-separated; empty = all")
	fs.Var(list(&c.ICEServers), "ice-server", "STUN/TURN URL(s) announced to clients as Link rel=ice-server, comma-separated")
	fs.IntVar(&c.UDPReadBuffer, "udp-read-buffer", c.UDPReadBuffer, "SO_RCVBUF bytes of the media socket; large so that ingest survives bursts of egress work")
	fs.StringVar(&c.ViewerBWE, "viewer-bwe", c.ViewerBWE, "who estimates a WebRTC viewer's bandwidth: gcc (the server, with Glint's own estimator, from the viewer's transport-cc feedback), transport-cc (the server, with pion's estimator from the same feedback: more CPU and memory per viewer) or remb (the viewer, which sends REMB: no per-viewer estimator on the server)")
	fs.BoolVar(&c.UDPBatchSend, "udp-batch-send", c.UDPBatchSend, "send WebRTC media with sendmmsg from batching writers (batches under load); false: one sendto per packet")
	fs.IntVar(&c.UDPSendLanes, "udp-send-lanes", c.UDPSendLanes, "parallel batching writers on the media socket, each viewer always on the same one; 0: one per core the process may use, at most 8")
	fs.DurationVar(&c.ICETimeout, "ice-timeout", c.ICETimeout, "a peer silent this long is failed and its session closed")
	fs.StringVar(&c.PublisherPolicy, "publisher-policy", c.PublisherPolicy, "second publisher to a live room: reject (409), replace, or backup (stands by, goes on air when the first stalls or leaves)")
	fs.StringVar(&c.RTMPAddr, "rtmp-addr", c.RTMPAddr, "RTMP ingest listen address (rtmp://host/live/ROOM?key=KEY); empty turns RTMP off")
	fs.StringVar(&c.SRTAddr, "srt-addr", c.SRTAddr, "SRT ingest listen address, UDP (streamid publish:ROOM/KEY or #!::r=ROOM,m=publish,s=KEY); empty turns SRT off")
	fs.Var(tokenFlag(&c.StreamKeys), "stream-key", "room=key: RTMP/SRT publishers of that room must give key; room * covers every other room; none: open (repeatable)")
	fs.StringVar(&c.SRTPassphrase, "srt-passphrase", c.SRTPassphrase, "SRT passphrase (10-79 characters, AES) every SRT publisher must use; empty: unencrypted")
	fs.Var(tokenFlag(&c.RoomTokens), "room-token", "room=token: require Authorization: Bearer token for WHIP/WHEP of that room (repeatable)")
	fs.StringVar(&c.CORSOrigin, "cors-origin", c.CORSOrigin, "Access-Control-Allow-Origin for WHIP/WHEP/API")
	fs.DurationVar(&c.PLIInterval, "pli-interval", c.PLIInterval, "at most one keyframe request (PLI) per published track per interval")
	fs.DurationVar(&c.JoinCacheAge, "join-cache-age", c.JoinCacheAge, "a joining WebRTC viewer starts at the track's newest cached keyframe when it is at most this far behind live, else asks for a keyframe (0: always ask; RTMP/SRT rooms always start at the cached one)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for sessions to close")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.BoolVar(&c.HLS, "hls", c.HLS, "also serve every live room as LL-HLS (transcoded ladder) under /hls/{room}/index.m3u8; --hls=false turns it off")
	fs.DurationVar(&c.HLSSegment, "hls-segment", c.HLSSegment, "LL-HLS segment duration, 1s-10s (segments are cut at the publisher's keyframes)")
	fs.DurationVar(&c.HLSPart, "hls-part", c.HLSPart, "LL-HLS part duration, 200ms-1s and at most half a segment")
	fs.StringVar(&c.HLSLadder, "hls-ladder", c.HLSLadder, "LL-HLS ladder: source and/or HEIGHTp[:KBPS] rungs, e.g. source,720p:2500,480p,360p; rungs not below the source are left out; empty: source + 720p/480p/360p")
	fs.Var(&roomMapValue{m: &c.HLSRoomLadders, want: "room=ladder, e.g. studio=source,480p", onePair: true}, "hls-room-ladder", "room=ladder: that room's LL-HLS ladder instead of --hls-ladder, e.g. studio=source,480p:1200 (repeatable)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate (chain) file: serve HTTPS with HTTP/2 (with --tls-key); without it, HTTP/1.1 and HTTP/2 cleartext (h2c)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file of --tls-cert")
	c.bindDVR(fs)
	c.bindHLSModes(fs)
	c.bindEvents(fs, layer)
	c.bindAuth(fs)
	c.bindCluster(fs)
	c.bindLimits(fs, list)
	c.bindLatency(fs)
	c.bindRelay(fs)
	c.bindFailover(fs)
}

// findConfigFlag returns the --config value from args (without parsing the rest), or fallback.
func findConfigFlag(args []string, fallback string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return fallback
}

func loadFile(path string, cfg *Config) error {
	if err := ReadYAMLFile("config file", path, cfg); err != nil {
		return err
	}
	if cfg.RoomTokens == nil {
		cfg.RoomTokens = map[string]string{}
	}
	if cfg.StreamKeys == nil {
		cfg.StreamKeys = map[string]string{}
	}
	return nil
}

// ReadYAMLFile decodes the YAML file at path over v, refusing keys v does not have; an empty
// file leaves v as it was. Errors start with what ("config file", "scenario") and keep a
// YAML error to the one line that names the problem.
func ReadYAMLFile(what, path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s %s: %w", what, path, firstLine(err))
	}
	return nil
}

// firstLine keeps a YAML error to one line that names the problem (the first of a
// yaml.TypeError's messages, e.g. "line 1: field udp_prot not found in type config.Config").
func firstLine(err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	s, _, _ := strings.Cut(msg, "\n")
	return errors.New(strings.TrimSpace(strings.TrimPrefix(s, "yaml: ")))
}

// listValue is a comma-separated flag. Repeating it within one source appends; the first
// Set from a later source (environment after file, flags after environment) replaces.
type listValue struct {
	items *[]string
	layer *int
	setIn int
}

func (l *listValue) String() string {
	if l == nil || l.items == nil {
		return ""
	}
	return strings.Join(*l.items, ",")
}

func (l *listValue) Set(s string) error {
	if l.setIn != *l.layer {
		*l.items, l.setIn = nil, *l.layer
	}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l.items = append(*l.items, part)
		}
	}
	return nil
}

// wantsHelp reports whether args ask for usage, which must work whatever else is wrong.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--", "-":
			return false
		}
	}
	return false
}

// roomMapValue is a repeatable room=value flag that fills a map: room=token and room=key
// (several comma-separated pairs per flag, shown masked), and room=ladder (one pair per
// flag: a ladder has commas).
type roomMapValue struct {
	m       *map[string]string
	want    string // the form, for errors: "room=token"
	onePair bool   // the whole flag is one pair
	secret  bool   // String masks the values
}

func tokenFlag(m *map[string]string) *roomMapValue {
	return &roomMapValue{m: m, want: "room=token", secret: true}
}

func (v *roomMapValue) String() string {
	if v == nil || v.m == nil {
		return ""
	}
	parts := make([]string, 0, len(*v.m))
	for room, value := range *v.m {
		if v.secret {
			value = "***"
		}
		parts = append(parts, room+"="+value)
	}
	if v.onePair {
		return strings.Join(parts, " ")
	}
	return strings.Join(parts, ",")
}

func (v *roomMapValue) Set(s string) error {
	pairs := []string{s}
	if !v.onePair {
		pairs = strings.Split(s, ",")
	}
	for _, pair := range pairs {
		room, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("want %s, got %q", v.want, pair)
		}
		if *v.m == nil {
			*v.m = map[string]string{}
		}
		(*v.m)[room] = value
	}
	return nil
}
