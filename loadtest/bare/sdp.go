package bare

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Payload types of the offer. H.264 comes in the profiles a server may be publishing
// (Constrained Baseline, Baseline, Main, High; packetization-mode 1), Opus in stereo.
var offerH264 = []struct {
	pt      uint8
	profile string
}{{102, "42e01f"}, {103, "42001f"}, {104, "4d001f"}, {105, "640c1f"}, {106, "64001f"}}

const offerOpusPT = 111

// buildOffer writes the viewer's SDP offer: receive-only video and audio, bundled, RTCP
// muxed, no header extensions and no RTCP feedback (the viewer sends none), no
// candidates (the server learns the viewer's address from its connectivity checks).
func buildOffer(ufrag, pwd, fingerprint string, sessionID uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n", sessionID)
	fmt.Fprintf(&b, "a=fingerprint:%s\r\n", fingerprint)
	section := func(kind, mid string, pts []uint8) {
		fmt.Fprintf(&b, "m=%s 9 UDP/TLS/RTP/SAVPF", kind)
		for _, pt := range pts {
			fmt.Fprintf(&b, " %d", pt)
		}
		fmt.Fprintf(&b, "\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n")
		fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:actpass\r\n", ufrag, pwd, fingerprint)
		fmt.Fprintf(&b, "a=mid:%s\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n", mid)
	}
	pts := make([]uint8, 0, len(offerH264))
	for _, c := range offerH264 {
		pts = append(pts, c.pt)
	}
	section("video", "0", pts)
	for _, c := range offerH264 {
		fmt.Fprintf(&b, "a=rtpmap:%d H264/90000\r\n", c.pt)
		fmt.Fprintf(&b, "a=fmtp:%d level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=%s\r\n", c.pt, c.profile)
	}
	section("audio", "1", []uint8{offerOpusPT})
	fmt.Fprintf(&b, "a=rtpmap:%d opus/48000/2\r\na=fmtp:%d minptime=10;useinbandfec=1\r\n", offerOpusPT, offerOpusPT)
	return b.String()
}

// answer is what the viewer needs from the server's SDP answer.
type answer struct {
	ufrag, pwd  string
	fingerprint []byte // SHA-256 of the server's certificate
	dtlsClient  bool   // the viewer is the DTLS client (the server answered setup:passive)
	candidates  []netip.AddrPort
	kinds       [128]Kind   // by payload type
	clockRates  [128]uint32 // by payload type, from the rtpmap (0: none given)
}

// answerAttributes are the session-level attributes a media section may override.
type answerAttributes struct {
	ufrag, pwd, fingerprint, setup string
}

// candidate is a usable host candidate of the answer.
type candidate struct {
	addr     netip.AddrPort
	priority uint64
}

// parseAnswer reads an SDP answer to buildOffer's offer; every problem is a one-line
// error that names it.
func parseAnswer(raw string) (*answer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, fmt.Errorf("answer: %s", firstLine(err.Error()))
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, errors.New("answer: no media sections")
	}
	a := &answer{}
	var attrs answerAttributes
	attrs.ufrag, _ = sd.Attribute("ice-ufrag")
	attrs.pwd, _ = sd.Attribute("ice-pwd")
	attrs.fingerprint, _ = sd.Attribute("fingerprint")
	attrs.setup, _ = sd.Attribute("setup")
	var cands []candidate
	for i, md := range sd.MediaDescriptions {
		var err error
		if cands, err = a.readMediaSection(md, &attrs, cands); err != nil {
			return nil, fmt.Errorf("answer: media section %d: %w", i, err)
		}
	}
	if err := a.apply(attrs, cands); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	return a, nil
}

// readMediaSection takes a media section's ICE and DTLS attributes into attrs, its payload
// types into a.kinds, and returns cands with its usable candidates appended. Rejected and
// non-media sections are skipped.
func (a *answer) readMediaSection(md *sdp.MediaDescription, attrs *answerAttributes, cands []candidate) ([]candidate, error) {
	kind := kindOf(md.MediaName.Media)
	if kind == 0 || md.MediaName.Port.Value == 0 {
		return cands, nil
	}
	for _, at := range md.Attributes {
		switch at.Key {
		case "ice-ufrag":
			attrs.ufrag = at.Value
		case "ice-pwd":
			attrs.pwd = at.Value
		case "fingerprint":
			attrs.fingerprint = at.Value
		case "setup":
			attrs.setup = at.Value
		case "candidate":
			addr, prio, ok, err := parseCandidate(at.Value)
			if err != nil {
				return nil, err
			}
			if ok {
				cands = append(cands, candidate{addr, prio})
			}
		case "rtpmap":
			ptStr, encoding, _ := strings.Cut(at.Value, " ")
			pt, err := strconv.ParseUint(ptStr, 10, 7)
			if err != nil {
				return nil, fmt.Errorf("bad rtpmap %.40q", at.Value)
			}
			a.kinds[pt] = kind
			a.clockRates[pt] = clockRate(encoding)
		}
	}
	return cands, nil
}

// apply checks that the answer had what the viewer needs and fills in a: the ICE
// credentials, the fingerprint, the DTLS role and the candidates, highest priority first.
func (a *answer) apply(attrs answerAttributes, cands []candidate) error {
	switch {
	case attrs.ufrag == "" || attrs.pwd == "":
		return errors.New("no ICE ufrag or pwd")
	case attrs.fingerprint == "":
		return errors.New("no DTLS fingerprint")
	case len(cands) == 0:
		return errors.New("no UDP host candidate")
	case a.kinds == [128]Kind{}:
		return errors.New("no payload types")
	}
	a.ufrag, a.pwd = attrs.ufrag, attrs.pwd
	var err error
	if a.fingerprint, err = parseFingerprint(attrs.fingerprint); err != nil {
		return err
	}
	switch attrs.setup {
	case "active", "": // RFC 8842: an answer without setup means active
		a.dtlsClient = false
	case "passive":
		a.dtlsClient = true
	default:
		return fmt.Errorf("setup %.20q: want active or passive", attrs.setup)
	}
	slices.SortStableFunc(cands, func(x, y candidate) int { return cmp.Compare(y.priority, x.priority) })
	for _, c := range cands {
		a.candidates = append(a.candidates, c.addr)
	}
	return nil
}

// clockRate reads the clock rate of an rtpmap's "name/rate[/channels]"; 0 when it has none.
func clockRate(encoding string) uint32 {
	_, rest, _ := strings.Cut(encoding, "/")
	rate, _, _ := strings.Cut(rest, "/")
	n, err := strconv.ParseUint(strings.TrimSpace(rate), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

func kindOf(media string) Kind {
	switch media {
	case "video":
		return Video
	case "audio":
		return Audio
	}
	return 0
}

// parseCandidate reads "foundation component transport priority address port typ type
// ..."; ok is false for candidates the viewer does not use (not UDP, not RTP's component,
// not an IP address).
func parseCandidate(v string) (addr netip.AddrPort, priority uint64, ok bool, err error) {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return addr, 0, false, fmt.Errorf("bad candidate %.60q", v)
	}
	priority, err = strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return addr, 0, false, fmt.Errorf("bad candidate priority %.20q", f[3])
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil || port == 0 {
		return addr, 0, false, fmt.Errorf("bad candidate port %.20q", f[5])
	}
	if f[1] != "1" || !strings.EqualFold(f[2], "udp") {
		return addr, 0, false, nil
	}
	ip, perr := netip.ParseAddr(f[4])
	if perr != nil {
		return addr, 0, false, nil // an mDNS name: not for a load generator
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), priority, true, nil
}

// parseFingerprint reads "sha-256 AB:CD:..." into the 32 bytes of the digest.
func parseFingerprint(v string) ([]byte, error) {
	alg, hexs, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(alg, "sha-256") {
		return nil, fmt.Errorf("fingerprint %.30q: want sha-256", v)
	}
	parts := strings.Split(strings.TrimSpace(hexs), ":")
	if len(parts) != 32 {
		return nil, fmt.Errorf("fingerprint: %d bytes, want 32", len(parts))
	}
	out := make([]byte, 32)
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) != 2 {
			return nil, fmt.Errorf("fingerprint: bad byte %.10q", p)
		}
		out[i] = byte(n)
	}
	return out, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
