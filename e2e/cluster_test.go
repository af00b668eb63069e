package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster/redistest"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
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

// TestClusterRelay: three glint serve processes on one Redis with a cluster secret; a WHIP
// publish on node A is played by WHEP viewers on A, B and C: B and C each relay the room from
// its origin, found through the directory and the registry (one relay per node, shown in
// glint_relays on both sides).
func TestClusterRelay(t *testing.T) {
	srv := redistest.Start(t, "")
	node := func(id string) *server {
		return startServer(t, "--redis", srv.URL(), "--node-id", id, "--cluster-secret", "e2e-cluster-secret-0123",
			"--public-url", "http://127.0.0.1:{http}")
	}
	a, b, c := node("node-a"), node("node-b"), node("node-c")
	ctx := testkit.Context(t, 60*time.Second)
	pub := testnode.StartPublisher(t, ctx, a.url("/whip/hall"), client.Options{LoopbackOnly: true})
	stop := make(chan struct{})
	go func() { // 25 frames a second, a keyframe every second
		n := 0
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			payload := testnode.DeltaPayload(n)
			if n%25 == 0 {
				payload = testnode.KeyframePayload(n)
			}
			if pub.WriteVideo(payload, true) != nil || pub.WriteAudio(testnode.AudioPayload(n)) != nil {
				return
			}
			n++
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	var counts [3]atomic.Int64
	for i, s := range []*server{a, b, c} {
		var sess *client.Session
		var err error
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			sess, err = client.Play(ctx, s.url("/whep/hall"), client.Options{LoopbackOnly: true,
				OnTrack: func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
					for {
						p, _, err := tr.ReadRTP()
						if err != nil {
							return
						}
						if tr.Kind() == webrtc.RTPCodecTypeVideo && len(p.Payload) > 0 {
							counts[i].Add(1)
						}
					}
				}})
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("WHEP on %s: %v", s.base, err)
		}
		defer func() { _ = sess.Close(context.Background()) }()
	}
	testkit.Eventually(t, ctx, "video on every node", func() bool {
		return counts[0].Load() > 50 && counts[1].Load() > 50 && counts[2].Load() > 50
	})
	for _, s := range []*server{b, c} {
		if m := metricsText(t, s); !strings.Contains(m, `glint_relays{direction="in"} 1`) {
			t.Errorf("%s: relays in:\n%s", s.base, grepLines(m, "glint_relays"))
		}
	}
	if m := metricsText(t, a); !strings.Contains(m, `glint_relays{direction="out"} 2`) {
		t.Errorf("origin: relays out:\n%s", grepLines(m, "glint_relays"))
	}
	t.Logf("video packets: origin %d, edge B %d, edge C %d", counts[0].Load(), counts[1].Load(), counts[2].Load())
	// The operator's dashboard of any node lists every node of the cluster.
	resp, err := httpClient.Get(b.url("/api/dashboard"))
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Cluster []struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		} `json:"cluster"`
	}
	err = json.NewDecoder(resp.Body).Decode(&report)
	_ = resp.Body.Close()
	if err != nil || len(report.Cluster) != 3 {
		t.Errorf("dashboard of node-b: %d cluster nodes (%v), want 3", len(report.Cluster), err)
	}
}
