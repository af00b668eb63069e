package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRefusalMetrics: a WHIP publish refused for want of the room token shows in
// glint_auth_denials_total, and every limit kind is exported in glint_limit_rejections_total.
func TestRefusalMetrics(t *testing.T) {
	base := startServe(t, "--room-token", "vip=s3cret")
	resp, err := http.Post(base+"/whip/vip", "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WHIP without the room token: %d, want 401", resp.StatusCode)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	if !strings.Contains(text, "glint_auth_denials_total{reason=") {
		t.Errorf("no auth denial in /metrics:\n%s", grepPrefix(text, "glint_auth"))
	}
	for _, kind := range []string{"sessions", "event_streams", "hls_waits", "rate_ip"} {
		if !strings.Contains(text, `glint_limit_rejections_total{kind="`+kind+`"}`) {
			t.Errorf("glint_limit_rejections_total{kind=%q} missing:\n%s", kind, grepPrefix(text, "glint_limit"))
		}
	}
}

func grepPrefix(text, prefix string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
