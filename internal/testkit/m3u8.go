package testkit

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Strict checks of HLS playlist tags, shared by the tests of every package that writes
// EXT-X-DATERANGE (hls's live playlists, dvr's recorded ones).

// StrictAttrs parses an attribute list exactly as RFC 8216 §4.2 defines it: names of
// [A-Z0-9-], values a quoted-string (no CR, LF or '"'), a hexadecimal-sequence, a
// (signed) decimal number or an enumerated-string; no repeated names, no stray characters.
func StrictAttrs(s string) (map[string]string, error) {
	out := map[string]string{}
	name := regexp.MustCompile(`^[A-Z0-9-]+=`)
	unquoted := regexp.MustCompile(`^(0[xX][0-9A-F]+|-?[0-9]+(\.[0-9]+)?|[0-9]+x[0-9]+|[^",\s]+)`)
	for s != "" {
		m := name.FindString(s)
		if m == "" {
			return nil, fmt.Errorf("bad attribute name at %.20q", s)
		}
		key := strings.TrimSuffix(m, "=")
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("attribute %s repeated", key)
		}
		s = s[len(m):]
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted-string of %s", key)
			}
			out[key] = s[:end+2] // quotes kept: the caller checks the type
			s = s[end+2:]
		} else {
			v := unquoted.FindString(s)
			if v == "" {
				return nil, fmt.Errorf("bad value of %s at %.20q", key, s)
			}
			out[key], s = v, s[len(v):]
		}
		if s != "" {
			if s[0] != ',' || len(s) == 1 {
				return nil, fmt.Errorf("stray characters after %s: %.20q", key, s)
			}
			s = s[1:]
		}
	}
	return out, nil
}

// CheckDateRange validates one EXT-X-DATERANGE tag's attributes per RFC 8216 §4.4.5.1 and
// returns its ID, start and X-GLINT-PAYLOAD (decoded).
func CheckDateRange(value string) (id string, start time.Time, payload []byte, err error) {
	a, err := StrictAttrs(value)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	quoted := func(k string) (string, bool) {
		v, ok := a[k]
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return "", false
		}
		return v[1 : len(v)-1], true
	}
	for k, v := range a {
		switch {
		case k == "ID" || k == "CLASS" || k == "START-DATE" || k == "END-DATE":
			if _, ok := quoted(k); !ok {
				return "", time.Time{}, nil, fmt.Errorf("%s must be a quoted-string: %s", k, v)
			}
		case k == "DURATION" || k == "PLANNED-DURATION":
			if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 {
				return "", time.Time{}, nil, fmt.Errorf("%s must be a non-negative decimal-floating-point: %s", k, v)
			}
		case strings.HasPrefix(k, "X-"):
			if _, ok := quoted(k); !ok && !strings.HasPrefix(v, "0x") && !regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`).MatchString(v) {
				return "", time.Time{}, nil, fmt.Errorf("client attribute %s must be a quoted-string, hex or decimal: %s", k, v)
			}
		default:
			return "", time.Time{}, nil, fmt.Errorf("unexpected attribute %s", k)
		}
	}
	id, ok := quoted("ID")
	if !ok || id == "" {
		return "", time.Time{}, nil, fmt.Errorf("ID is required")
	}
	sd, ok := quoted("START-DATE")
	if !ok {
		return "", time.Time{}, nil, fmt.Errorf("START-DATE is required")
	}
	if start, err = time.Parse(time.RFC3339Nano, sd); err != nil {
		return "", time.Time{}, nil, fmt.Errorf("START-DATE %q is not ISO 8601: %v", sd, err)
	}
	if p, ok := quoted("X-GLINT-PAYLOAD"); ok {
		if payload, err = base64.StdEncoding.DecodeString(p); err != nil {
			return "", time.Time{}, nil, fmt.Errorf("X-GLINT-PAYLOAD is not base64: %v", err)
		}
	}
	return id, start, payload, nil
}
