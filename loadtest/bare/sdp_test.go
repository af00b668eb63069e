package bare

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

const testFP = "sha-256 0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20:21:22:23:24:25:26:27:28:29"

// goodAnswer is shaped like pion's answers (Glint's): session-level fingerprint, ICE
// credentials and candidates per section, setup:active.
const goodAnswer = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
	"a=fingerprint:" + testFP + "\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=setup:active\r\na=mid:0\r\n" +
	"a=ice-ufrag:srvU\r\na=ice-pwd:serverpasswordserverpass\r\na=rtcp-mux\r\n" +
	"a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=ssrc:1111 cname:glint\r\na=sendonly\r\n" +
	"a=candidate:1 1 udp 2130706431 192.0.2.7 8189 typ host\r\n" +
	"a=candidate:2 1 udp 2130706433 127.0.0.1 8189 typ host\r\n" +
	"a=candidate:3 1 tcp 1671430143 127.0.0.1 8189 typ host tcptype passive\r\na=end-of-candidates\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=setup:active\r\na=mid:1\r\n" +
	"a=ice-ufrag:srvU\r\na=ice-pwd:serverpasswordserverpass\r\na=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=sendonly\r\n"

func TestParseAnswer(t *testing.T) {
	a, err := parseAnswer(goodAnswer)
	if err != nil {
		t.Fatal(err)
	}
	if a.ufrag != "srvU" || a.pwd != "serverpasswordserverpass" || a.dtlsClient || len(a.fingerprint) != 32 || a.fingerprint[0] != 0x0a {
		t.Errorf("answer %+v", a)
	}
	if a.kinds[102] != Video || a.kinds[111] != Audio || a.kinds[96] != 0 {
		t.Errorf("payload types: 102 %v, 111 %v, 96 %v", a.kinds[102], a.kinds[111], a.kinds[96])
	}
	if a.clockRates[102] != 90000 || a.clockRates[111] != 48000 || a.clockRates[96] != 0 {
		t.Errorf("clock rates: 102 %d, 111 %d, 96 %d", a.clockRates[102], a.clockRates[111], a.clockRates[96])
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8189"), netip.MustParseAddrPort("192.0.2.7:8189")}
	if len(a.candidates) != 2 || a.candidates[0] != want[0] || a.candidates[1] != want[1] {
		t.Errorf("candidates %v, want %v (UDP only, by priority)", a.candidates, want)
	}
	if c, err := pickCandidate(a, true); err != nil || c.String() != "127.0.0.1:8189" {
		t.Errorf("pickCandidate(loopback) = %v, %v", c, err)
	}
	passive, err := parseAnswer(strings.ReplaceAll(goodAnswer, "setup:active", "setup:passive"))
	if err != nil || !passive.dtlsClient {
		t.Errorf("setup:passive: %v, DTLS client %v", err, passive != nil && passive.dtlsClient)
	}
}

// TestParseAnswerErrors: every malformed answer gets a one-line error naming the problem.
func TestParseAnswerErrors(t *testing.T) {
	tests := []struct {
		name, answer, want string
	}{
		{"empty", "", "answer:"},
		{"not SDP", "hello\r\n", "answer:"},
		{"no media", "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "no media sections"},
		{"no ufrag", strings.ReplaceAll(goodAnswer, "a=ice-ufrag:srvU\r\n", ""), "no ICE ufrag or pwd"},
		{"no pwd", strings.ReplaceAll(goodAnswer, "a=ice-pwd:serverpasswordserverpass\r\n", ""), "no ICE ufrag or pwd"},
		{"no fingerprint", strings.ReplaceAll(goodAnswer, "a=fingerprint:"+testFP+"\r\n", ""), "no DTLS fingerprint"},
		{"sha-1 fingerprint", strings.ReplaceAll(goodAnswer, "sha-256 ", "sha-1 "), "want sha-256"},
		{"short fingerprint", strings.ReplaceAll(goodAnswer, ":28:29", ""), "30 bytes, want 32"},
		{"bad fingerprint byte", strings.ReplaceAll(goodAnswer, ":28:29", ":28:ZZ"), "bad byte"},
		{"no candidates", dropLines(goodAnswer, "a=candidate:"), "no UDP host candidate"},
		{"only tcp", dropLines(goodAnswer, "a=candidate:1 ", "a=candidate:2 "), "no UDP host candidate"},
		{"bad candidate", strings.ReplaceAll(goodAnswer, "127.0.0.1 8189 typ host\r\n", "127.0.0.1\r\n"), "bad candidate"},
		{"bad port", strings.ReplaceAll(goodAnswer, "127.0.0.1 8189 typ", "127.0.0.1 99999 typ"), "bad candidate port"},
		{"bad priority", strings.ReplaceAll(goodAnswer, "2130706433", "x"), "bad candidate priority"},
		{"bad rtpmap", strings.ReplaceAll(goodAnswer, "a=rtpmap:111", "a=rtpmap:abc"), "bad rtpmap"},
		{"no payload types", dropLines(goodAnswer, "a=rtpmap:"), "no payload types"},
		{"setup actpass", strings.ReplaceAll(goodAnswer, "setup:active", "setup:actpass"), "want active or passive"},
		{"all rejected", strings.ReplaceAll(strings.ReplaceAll(goodAnswer, "m=video 9", "m=video 0"), "m=audio 9", "m=audio 0"), "no ICE ufrag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseAnswer(tt.answer)
			if err == nil {
				t.Fatalf("parsed %+v, want an error containing %q", a, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "answer") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line starting with answer, containing %q", err, tt.want)
			}
		})
	}
}

func dropLines(s string, prefixes ...string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\r\n") {
		drop := false
		for _, p := range prefixes {
			drop = drop || strings.HasPrefix(line, p)
		}
		if !drop {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\r\n")
}

// TestBuildOffer: the offer parses, receives video and audio only, and asks for no
// feedback and no header extensions.
func TestBuildOffer(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	raw := buildOffer("ufrag123", "pwd", id.fingerprint, 42)
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		t.Fatalf("offer does not parse: %v\n%s", err, raw)
	}
	if len(sd.MediaDescriptions) != 2 || sd.MediaDescriptions[0].MediaName.Media != "video" || sd.MediaDescriptions[1].MediaName.Media != "audio" {
		t.Fatalf("offer sections: %+v", sd.MediaDescriptions)
	}
	for _, md := range sd.MediaDescriptions {
		if _, ok := md.Attribute("recvonly"); !ok {
			t.Errorf("%s: not recvonly", md.MediaName.Media)
		}
		if fp, _ := md.Attribute("fingerprint"); fp != id.fingerprint {
			t.Errorf("%s: fingerprint %q, want %q", md.MediaName.Media, fp, id.fingerprint)
		}
		for _, key := range []string{"rtcp-fb", "extmap", "ssrc"} {
			if _, ok := md.Attribute(key); ok {
				t.Errorf("%s: offers %s", md.MediaName.Media, key)
			}
		}
	}
	if !strings.Contains(raw, "profile-level-id=42e01f") || !strings.Contains(raw, "opus/48000/2") {
		t.Errorf("offer lacks the publisher's H.264 profile or Opus:\n%s", raw)
	}
}

// FuzzParseAnswer: no answer makes the parser panic, and what it accepts is usable.
func FuzzParseAnswer(f *testing.F) {
	f.Add(goodAnswer)
	f.Add(strings.ReplaceAll(goodAnswer, "setup:active", "setup:passive"))
	f.Add(dropLines(goodAnswer, "a=candidate:"))
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := parseAnswer(raw)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
			return
		}
		if len(a.candidates) == 0 || len(a.fingerprint) != 32 || a.ufrag == "" || a.pwd == "" {
			t.Errorf("accepted an unusable answer: %+v", a)
		}
	})
}
