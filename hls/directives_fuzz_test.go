package hls

import (
	"net/url"
	"strconv"
	"testing"
)

// FuzzParseDirectives: any query of a media playlist request either is refused with an
// error (a 400) or gives directives a blocking reload can use: msn and part -1 or in
// range, a part only with an msn, and the values the query says.
func FuzzParseDirectives(f *testing.F) {
	for _, seed := range []string{"", "_HLS_msn=12&_HLS_part=3", "_HLS_msn=5", "_HLS_part=1", "_HLS_skip=YES",
		"_HLS_skip=v2&_HLS_msn=1", "_HLS_msn=-1", "_HLS_msn=9223372036854775808", "_HLS_part=65536&_HLS_msn=1",
		"_HLS_msn=1&_HLS_msn=2", "_HLS_msn=%31", "_HLS_skip=no", "_HLS_msn=+1", "_HLS_msn= 1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		msn, part, skip, err := parseDirectives(q)
		if err != nil {
			return
		}
		if msn < -1 || part < -1 || part > 65535 || (part >= 0 && msn < 0) {
			t.Fatalf("%q: msn %d part %d", raw, msn, part)
		}
		if v := q.Get("_HLS_msn"); v != "" {
			if n, err := strconv.ParseUint(v, 10, 63); err != nil || int64(n) != msn {
				t.Fatalf("%q: msn %d from %q", raw, msn, v)
			}
		} else if msn != -1 {
			t.Fatalf("%q: msn %d from %q", raw, msn, v)
		}
		if skip != (q.Get("_HLS_skip") != "") {
			t.Fatalf("%q: skip %v", raw, skip)
		}
	})
}
