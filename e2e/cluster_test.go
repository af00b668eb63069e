package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
)

// TestClusterWrongRedisPassword: glint serve with a Redis that refuses its password stops
// at start with a non-zero status and says why, without showing the password.
func TestClusterWrongRedisPassword(t *testing.T) {
	srv := redistest.Start(t, "right-secret")
	p := testkit.StartProc(t, testkit.ProcOptions{Name: "glint serve"}, glintBin(t), "serve",
		"--http-addr", "127.0.0.1:0", "--udp-port", "0", "--hls=false", "--rtmp-addr=", "--srt-addr=",
		"--data-dir", t.TempDir(), "--redis", "redis://:wrong-secret@"+srv.Addr+"/0")
	err := p.Wait(30 * time.Second)
	log := p.Stderr()
	if err == nil || !p.Exited() {
		t.Fatalf("glint serve with a wrong Redis password: exit %v, want a non-zero status", err)
	}
	if !strings.Contains(log, "WRONGPASS") || !strings.Contains(log, srv.Addr) {
		t.Fatalf("the start-up error does not say why; stderr:\n%s", log)
	}
	if strings.Contains(log, "wrong-secret") {
		t.Fatalf("the start-up error shows the password:\n%s", log)
	}
}

// TestClusterTwoNodes: two glint serve processes on one Redis: both are registered, and a
// WHIP publish to the node that does not own the room is redirected to the owner's public
// URL.
func TestClusterTwoNodes(t *testing.T) {
	srv := redistest.Start(t, "")
	a := startServer(t, "--redis", srv.URL(), "--node-id", "node-a")
	b := startServer(t, "--redis", srv.URL(), "--node-id", "node-b")
	offer := testkit.PionOffer(t, webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	noFollow := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(s *server) *http.Response {
		resp, err := noFollow.Post(s.url("/whip/hall"), "application/sdp", strings.NewReader(offer))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	if resp := post(a); resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish to node-a: %d", resp.StatusCode)
	}
	host, _ := os.Hostname()
	_, port, _ := strings.Cut(strings.TrimPrefix(a.base, "http://"), ":")
	want := "http://" + host + ":" + port + "/whip/hall" // node-a's default --public-url
	if resp := post(b); resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("publish to node-b: %d Location %q, want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := metricsText(t, a)
		if strings.Contains(m, "glint_cluster_nodes 2") && strings.Contains(m, "glint_cluster_leases_held 1") &&
			strings.Contains(m, "glint_cluster_redis_up 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-a's glint_cluster_* metrics:\n%s", grepLines(m, "glint_cluster_"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func metricsText(t *testing.T, s *server) string {
	t.Helper()
	resp, err := httpClient.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func grepLines(text, prefix string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
