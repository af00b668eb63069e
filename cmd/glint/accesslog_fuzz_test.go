package main

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedactedPath: the access log's path never shows a query value other than the
// playback directives, whatever the query.
func FuzzRedactedPath(f *testing.F) {
	for _, s := range []string{"/hls/a/index.m3u8?token=abc", "/whep/a?_HLS_msn=1&sig=x&sig=y", "/x?%zz", "/x?token",
		"/dvr/r/index.m3u8?t=2026-01-01T00:00:00Z&exp=1&sig=zz", "/a?=v", "/a?t=1;token=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		out := redactedPath(u)
		if !strings.HasPrefix(out, u.Path) {
			t.Fatalf("%q logged as %q: the path changed", target, out)
		}
		_, rawQuery, found := strings.Cut(strings.TrimPrefix(out, u.Path), "?")
		if !found || rawQuery == "(unparsable query)" {
			return
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("%q logged with an unparseable query %q", target, rawQuery)
		}
		for k, vs := range q {
			for _, v := range vs {
				if !loggedQueryKeys[k] && v != "REDACTED" {
					t.Fatalf("%q logged %s=%q", target, k, v)
				}
			}
		}
	})
}
