package config

import (
	"flag"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// S3Settings locate an S3-compatible object store for the DVR's segments (--dvr-s3-*).
// Empty (no endpoint) means the local disk under --data-dir.
type S3Settings struct {
	Endpoint  string `yaml:"dvr_s3_endpoint"`   // host[:port], no scheme
	Bucket    string `yaml:"dvr_s3_bucket"`     // created at start when missing (if the keys may)
	Region    string `yaml:"dvr_s3_region"`     // empty: the store's default
	AccessKey string `yaml:"dvr_s3_access_key"` // with SecretKey; both empty: no credentials
	SecretKey string `yaml:"dvr_s3_secret_key"`
	Insecure  bool   `yaml:"dvr_s3_insecure"` // plain http instead of https
}

// Enabled reports whether an object store is configured.
func (s S3Settings) Enabled() bool { return s.Endpoint != "" }

// ByteSize is a size in bytes, given as a number with an optional unit: 500MB, 20GiB,
// 1.5TB (K, M, G, T: powers of 1000; Ki, Mi, Gi, Ti: of 1024; a trailing B is optional).
type ByteSize int64

var byteSizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?)?B?$`)

// ParseByteSize parses a ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q: want a size such as 0, 500MB or 20GiB", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	base, power := 1000.0, 0
	if m[2] != "" {
		power = strings.Index("KMGT", m[2][:1]) + 1
	}
	if strings.HasSuffix(m[2], "i") {
		base = 1024
	}
	for range power {
		n *= base
	}
	if n >= 1<<62 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return ByteSize(n), nil
}

func (b *ByteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses a flag value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err == nil {
		*b = v
	}
	return err
}

// UnmarshalYAML accepts a number of bytes or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error { return b.Set(n.Value) }

// bindDVR binds the DVR's flags.
func (c *Config) bindDVR(fs *flag.FlagSet) {
	fs.BoolVar(&c.DVR, "dvr", c.DVR, "record every live room's LL-HLS renditions (pause, rewind, start-over, VOD, clips); needs --hls; --dvr=false turns it off")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the node's data: the DVR's indexes, and its segments unless --dvr-s3-endpoint is set")
	fs.DurationVar(&c.DVRWindow, "dvr-window", c.DVRWindow, "how far behind the live edge a live playlist lets viewers seek")
	fs.Var(&roomMapValue{m: &c.DVRRoomWindows, want: "room=duration, e.g. studio=6h"}, "dvr-room-window", "room=duration: that room's DVR window instead of --dvr-window (repeatable)")
	fs.DurationVar(&c.DVRMaxAge, "dvr-max-age", c.DVRMaxAge, "recordings that ended longer ago are removed; 0 keeps them")
	fs.Var(&c.DVRMaxBytes, "dvr-max-bytes", "bytes all recordings may use (e.g. 500GB, 2TiB); the oldest go first; 0: unlimited")
	fs.Var(&c.DVRRoomMaxBytes, "dvr-room-max-bytes", "bytes the recordings of one room may use; the room's oldest go first; 0: unlimited")
	fs.StringVar(&c.DVRS3.Endpoint, "dvr-s3-endpoint", c.DVRS3.Endpoint, "S3-compatible object store for DVR segments, host[:port] (no scheme); empty: the local disk under --data-dir")
	fs.StringVar(&c.DVRS3.Bucket, "dvr-s3-bucket", c.DVRS3.Bucket, "bucket of --dvr-s3-endpoint (created at start when missing, if the keys allow it)")
	fs.StringVar(&c.DVRS3.Region, "dvr-s3-region", c.DVRS3.Region, "region of the bucket; empty: the store's default")
	fs.StringVar(&c.DVRS3.AccessKey, "dvr-s3-access-key", c.DVRS3.AccessKey, "access key of the object store (with --dvr-s3-secret-key; prefer GLINT_DVR_S3_ACCESS_KEY)")
	fs.StringVar(&c.DVRS3.SecretKey, "dvr-s3-secret-key", c.DVRS3.SecretKey, "secret key of the object store (prefer GLINT_DVR_S3_SECRET_KEY: a flag shows in the process list)")
	fs.BoolVar(&c.DVRS3.Insecure, "dvr-s3-insecure", c.DVRS3.Insecure, "talk to the object store over plain http instead of https")
}

var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validateDVR checks the DVR options (also when the DVR is off, so that turning it on
// later cannot fail).
func (c *Config) validateDVR() error {
	if c.DVR && c.DataDir == "" {
		return fmt.Errorf("data-dir: must be set when the DVR is on")
	}
	if err := positive("dvr-window", c.DVRWindow); err != nil {
		return err
	}
	if c.DVRMaxAge < 0 || c.DVRMaxBytes < 0 || c.DVRRoomMaxBytes < 0 {
		return fmt.Errorf("dvr-max-age, dvr-max-bytes and dvr-room-max-bytes: must not be negative")
	}
	if c.DVRMaxAge > 0 && c.DVRMaxAge < c.DVRWindow {
		return fmt.Errorf("dvr-max-age %s: must be at least dvr-window %s (or 0)", c.DVRMaxAge, c.DVRWindow)
	}
	for room, w := range c.DVRRoomWindows {
		if !ValidRoomName(room) {
			return fmt.Errorf("dvr-room-window %q: invalid room name (1-64 of A-Z a-z 0-9 _ -)", room)
		}
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 {
			return fmt.Errorf("dvr-room-window %s=%q: want a positive duration, e.g. 6h", room, w)
		}
		if c.DVRMaxAge > 0 && d > c.DVRMaxAge {
			return fmt.Errorf("dvr-room-window %s=%s: longer than dvr-max-age %s", room, d, c.DVRMaxAge)
		}
	}
	return c.DVRS3.validate()
}

// validate checks the object store settings: all empty, or an endpoint and a bucket.
func (s S3Settings) validate() error {
	if !s.Enabled() {
		if s.Bucket != "" || s.AccessKey != "" || s.SecretKey != "" || s.Region != "" {
			return fmt.Errorf("dvr-s3-*: the bucket, region and keys need --dvr-s3-endpoint")
		}
		return nil
	}
	if strings.Contains(s.Endpoint, "://") || strings.Contains(s.Endpoint, "/") {
		return fmt.Errorf("dvr-s3-endpoint %q: want host[:port] without a scheme or path (--dvr-s3-insecure for http)", s.Endpoint)
	}
	host, port := s.Endpoint, ""
	if h, p, err := net.SplitHostPort(s.Endpoint); err == nil {
		host, port = h, p
	}
	if n, err := strconv.Atoi(port); host == "" || strings.ContainsAny(host, " :") || (port != "" && (err != nil || n < 1 || n > 65535)) {
		return fmt.Errorf("dvr-s3-endpoint %q: want host[:port]", s.Endpoint)
	}
	if !bucketPattern.MatchString(s.Bucket) {
		return fmt.Errorf("dvr-s3-bucket %q: want an S3 bucket name (3-63 of a-z 0-9 . -)", s.Bucket)
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		return fmt.Errorf("dvr-s3-access-key and dvr-s3-secret-key: give both or neither")
	}
	return nil
}

// dvrWindow returns room's DVR window (dvr_room_windows, else --dvr-window); 0 when the
// DVR is off. Valid after Validate.
func (c *Config) dvrWindow(room string) time.Duration {
	if !c.DVR {
		return 0
	}
	if w, ok := c.DVRRoomWindows[room]; ok {
		if d, err := time.ParseDuration(w); err == nil {
			return d
		}
	}
	return c.DVRWindow
}
