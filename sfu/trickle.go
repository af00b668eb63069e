package sfu

import (
	"context"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// maxFragCandidates bounds the candidates one PATCH may carry.
const maxFragCandidates = 64

// sdpFrag is a parsed application/trickle-ice-sdpfrag body (RFC 8840).
type sdpFrag struct {
	ufrag, pwd string
	mid        string
	candidates []string
	end        bool
}

func parseSDPFrag(body string) (*sdpFrag, error) {
	f := &sdpFrag{}
	for _, raw := range strings.Split(body, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=mid:"):
			if f.mid == "" {
				f.mid = strings.TrimPrefix(line, "a=mid:")
			}
		case strings.HasPrefix(line, "a=candidate:"):
			f.candidates = append(f.candidates, strings.TrimPrefix(line, "a="))
		case line == "a=end-of-candidates":
			f.end = true
		case strings.HasPrefix(line, "m="), strings.HasPrefix(line, "a=ice-options:"), strings.HasPrefix(line, "a=group:"):
		default:
			return nil, &SDPError{Reason: fmt.Sprintf("unexpected line in sdpfrag: %.60q", line)}
		}
	}
	if len(f.candidates) > maxFragCandidates {
		return nil, &SDPError{Reason: fmt.Sprintf("%d candidates (max %d)", len(f.candidates), maxFragCandidates)}
	}
	if (f.ufrag == "") != (f.pwd == "") {
		return nil, &SDPError{Reason: "sdpfrag has only one of ice-ufrag and ice-pwd"}
	}
	if f.ufrag != "" && (!iceChars(f.ufrag, 4) || !iceChars(f.pwd, 22)) {
		return nil, &SDPError{Reason: "ice-ufrag/ice-pwd: want 4+/22+ to 256 characters of A-Z a-z 0-9 + / (RFC 8839)"}
	}
	return f, nil
}

// Patch applies a trickle-ICE sdpfrag. Candidates are added to the session; new ICE
// credentials restart ICE, and the returned fragment carries the server's new credentials
// and candidates (empty for plain trickle).
func (s *Session) Patch(ctx context.Context, body string) (string, error) {
	f, err := parseSDPFrag(body)
	if err != nil {
		return "", err
	}
	remote := s.pc.RemoteDescription()
	if remote == nil {
		return "", &SDPError{Reason: "session has no remote description"}
	}
	if f.ufrag != "" && f.ufrag != sdpAttribute(remote.SDP, "ice-ufrag") {
		return s.restartICE(ctx, remote.SDP, f)
	}
	for _, c := range f.candidates {
		init := webrtc.ICECandidateInit{Candidate: c}
		if f.mid != "" {
			init.SDPMid = &f.mid
		}
		if err := s.pc.AddICECandidate(init); err != nil {
			return "", &SDPError{Reason: "candidate: " + firstLine(err.Error())}
		}
	}
	return "", nil
}

// restartICE renegotiates with the old offer under new credentials (RFC 9725 §4.4.2).
func (s *Session) restartICE(ctx context.Context, oldOffer string, f *sdpFrag) (string, error) {
	var b strings.Builder
	for _, raw := range strings.Split(oldOffer, "\n") {
		line := strings.TrimRight(raw, "\r")
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + f.ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + f.pwd
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			continue
		case line == "":
			continue
		}
		b.WriteString(line + "\r\n")
	}
	answer, err := s.answer(ctx, b.String(), nil)
	if err != nil {
		return "", fmt.Errorf("ice restart: %w", err)
	}
	for _, c := range f.candidates {
		_ = s.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c})
	}
	s.log.Info("ice restart")
	return answerFrag(answer), nil
}

// answerFrag extracts credentials and candidates of an answer into an sdpfrag body.
func answerFrag(answer string) string {
	var b strings.Builder
	b.WriteString("a=ice-ufrag:" + sdpAttribute(answer, "ice-ufrag") + "\r\n")
	b.WriteString("a=ice-pwd:" + sdpAttribute(answer, "ice-pwd") + "\r\n")
	seen := map[string]bool{}
	for _, raw := range strings.Split(answer, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "a=candidate:") && !seen[line] {
			seen[line] = true
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}

// iceChars checks an ICE credential: minLen to 256 ice-chars (ALPHA / DIGIT / "+" / "/").
func iceChars(s string, minLen int) bool {
	if len(s) < minLen || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
