package dvr

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// FuzzClipRequest: whatever JSON a client posts, a clip range is either refused or lies
// within the recording, ends after it starts and is no longer than the maximum.
func FuzzClipRequest(f *testing.F) {
	for _, seed := range []string{
		`{"start": "2026-12-05T21:00:05Z", "end": "2026-12-05T21:00:35Z"}`,
		`{"start_offset": 4.5, "end_offset": 16.5}`,
		`{"last": 10}`, `{"last": 1e300}`, `{"start_offset": -1, "end_offset": 1e19}`,
		`{"start": "2026-12-05T21:00:35Z", "end": "2026-12-05T21:00:05Z", "accurate": true}`, `{}`, `[`,
	} {
		f.Add([]byte(seed))
	}
	first := time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)
	last := first.Add(time.Hour)
	rec := Recording{ID: "room1.20261205T210000Z", Room: "room1", Start: first}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req clipRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&req) != nil {
			return
		}
		from, to, err := req.clipRange(rec, first, last, 10*time.Minute)
		if err != nil {
			return
		}
		if from.Before(first) || to.After(last) || !to.After(from) || to.Sub(from) > 10*time.Minute {
			t.Fatalf("%s: accepted %v to %v", body, from, to)
		}
	})
}

// FuzzPlaylistQuery: a playlist query is refused or read back as it encodes itself.
func FuzzPlaylistQuery(f *testing.F) {
	for _, seed := range []string{"start=over", "t=2026-12-05T21:00:00Z", "t=2026-12-05T21:00:00.5%2B01:00&start=over", "start=later", "t=%ZZ"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		pq, err := parsePlaylistQuery(q)
		if err != nil {
			return
		}
		again, err := url.ParseQuery(pq.encode()[min(1, len(pq.encode())):])
		if err != nil {
			t.Fatalf("%q encodes as %q: %v", raw, pq.encode(), err)
		}
		back, err := parsePlaylistQuery(again)
		if err != nil || back.startOver != pq.startOver || !back.at.Equal(pq.at) {
			t.Fatalf("%q: %+v, read back %+v (%v)", raw, pq, back, err)
		}
	})
}
