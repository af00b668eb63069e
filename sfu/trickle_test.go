package sfu

import (
	"reflect"
	"strings"
	"testing"
)

// rfc9725Frag is the trickle PATCH body of RFC 9725 §4.4.1 (after RFC 8840).
var rfc9725Frag = crlf(`
a=ice-options:trickle ice2
a=group:BUNDLE 0 1
m=audio 9 RTP/AVP 0
a=mid:0
a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1
a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2
a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1
a=candidate:2154773085 1 tcp 1518214911 198.51.100.2 9 typ host tcptype active generation 0 ufrag EsAw network-id 2
a=end-of-candidates
`)

func TestParseSDPFrag(t *testing.T) {
	tests := []struct {
		name string
		body string
		want sdpFrag
	}{
		{"empty body", "", sdpFrag{}},
		{"RFC 9725 example", rfc9725Frag, sdpFrag{
			ufrag: "EsAw", pwd: "P2uYro0UCOQ4zxjKXaWCBui1", mid: "0", end: true,
			candidates: []string{
				"candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1",
				"candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2",
				"candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1",
				"candidate:2154773085 1 tcp 1518214911 198.51.100.2 9 typ host tcptype active generation 0 ufrag EsAw network-id 2",
			},
		}},
		{"one candidate with mid, LF endings", "a=mid:0\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\n", sdpFrag{
			mid: "0", candidates: []string{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"},
		}},
		{"first mid wins", "a=mid:video0\na=mid:audio1\n", sdpFrag{mid: "video0"}},
		{"empty mid then a real one", "a=mid:\na=mid:1\n", sdpFrag{mid: "1"}},
		{"end-of-candidates only", "a=end-of-candidates\r\n", sdpFrag{end: true}},
		{"ICE restart credentials only", "a=ice-ufrag:newu\r\na=ice-pwd:newpassword0123456789ab\r\n", sdpFrag{ufrag: "newu", pwd: "newpassword0123456789ab"}},
		{"surrounding whitespace and blank lines", "\r\n  a=ice-ufrag:uf01 \r\n\r\n\ta=ice-pwd:pwd0123456789abcdef01234\r\n", sdpFrag{ufrag: "uf01", pwd: "pwd0123456789abcdef01234"}},
		{"m=, group and ice-options are tolerated", "a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-options:trickle\r\n", sdpFrag{}},
		{"exactly the maximum of candidates", strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", maxFragCandidates), sdpFrag{
			candidates: repeatString("candidate:1 1 udp 1 127.0.0.1 9 typ host", maxFragCandidates),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSDPFrag(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseSDPFragErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unexpected attribute", "a=mid:0\r\na=setup:actpass\r\n", `unexpected line in sdpfrag: "a=setup:actpass"`},
		{"connection line", "c=IN IP4 0.0.0.0\r\n", "unexpected line in sdpfrag"},
		{"a whole offer", minimalOffer(vp8Section), `unexpected line in sdpfrag: "v=0"`},
		{"candidate without a=", "candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", "unexpected line"},
		{"long line is cut in the message", "x" + strings.Repeat("y", 500), "unexpected line in sdpfrag"},
		{"only ufrag", "a=ice-ufrag:u1\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", "only one of ice-ufrag and ice-pwd"},
		{"only pwd", "a=ice-pwd:p1\r\n", "only one of ice-ufrag and ice-pwd"},
		{"empty ufrag with pwd", "a=ice-ufrag:\r\na=ice-pwd:p1\r\n", "only one of ice-ufrag and ice-pwd"},
		{"ufrag with a space", "a=ice-ufrag:ab cd\r\na=ice-pwd:pwd0123456789abcdef01234\r\n", "RFC 8839"},
		{"pwd too short", "a=ice-ufrag:abcd\r\na=ice-pwd:short\r\n", "RFC 8839"},
		{"too many candidates", strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", maxFragCandidates+1), "65 candidates (max 64)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseSDPFrag(tt.body)
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			// The client's line is cut.
			checkSDPError(t, err, 200)
			if msg := err.Error(); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q, want one line containing %q", msg, tt.want)
			}
		})
	}
}

func TestAnswerFrag(t *testing.T) {
	answer := crlf(`
v=0
o=- 1 2 IN IP4 0.0.0.0
s=-
t=0 0
m=video 9 UDP/TLS/RTP/SAVPF 96
a=ice-ufrag:srvU
a=ice-pwd:srvPassword0123456789abcd
a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host
a=candidate:2 1 tcp 1671430143 127.0.0.1 8189 typ host tcptype passive
m=audio 9 UDP/TLS/RTP/SAVPF 111
a=ice-ufrag:srvU
a=ice-pwd:srvPassword0123456789abcd
a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host
`)
	want := "a=ice-ufrag:srvU\r\na=ice-pwd:srvPassword0123456789abcd\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host\r\n" +
		"a=candidate:2 1 tcp 1671430143 127.0.0.1 8189 typ host tcptype passive\r\n" +
		"a=end-of-candidates\r\n"
	got := answerFrag(answer)
	if got != want {
		t.Fatalf("answerFrag =\n%q\nwant\n%q", got, want)
	}
	// The fragment the server sends back parses as a fragment.
	f, err := parseSDPFrag(got)
	if err != nil || f.ufrag != "srvU" || len(f.candidates) != 2 || !f.end {
		t.Fatalf("parseSDPFrag(answerFrag) = %+v, %v", f, err)
	}
}

func repeatString(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
