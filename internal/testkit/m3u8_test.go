package testkit

import "testing"

// TestStrictDateRangeCheckRejects: CheckDateRange refuses what RFC 8216 §4.4.5.1 does.
func TestStrictDateRangeCheckRejects(t *testing.T) {
	for _, bad := range []string{
		`CLASS="c",START-DATE="2026-01-02T03:04:05.000Z"`,                  // no ID
		`ID="a",START-DATE="yesterday"`,                                    // not ISO 8601
		`ID="a",START-DATE="2026-01-02T03:04:05Z",X-GLINT-PAYLOAD={"a":1}`, // unquoted JSON
		`ID="a",START-DATE="2026-01-02T03:04:05Z",ID="b"`,                  // repeated
		`ID=a,START-DATE="2026-01-02T03:04:05Z"`,                           // unquoted ID
	} {
		if _, _, _, err := CheckDateRange(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
