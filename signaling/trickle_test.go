package signaling_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

func patch(t *testing.T, url, body, ifMatch string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestTrickleAndICERestart(t *testing.T) {
	ctx, srv, pub := testnode.StartRoom(t, 30*time.Second, "ice")
	viewer, rec := srv.Play(t, ctx, "ice")
	resource := viewer.Location()
	pub.Prime(t, ctx, rec)

	// Trickle: a candidate for the first m-line is accepted with 204.
	frag := "a=ice-ufrag:" + sdpValue(viewer.PeerConnection().LocalDescription().SDP, "ice-ufrag") +
		"\r\na=ice-pwd:" + sdpValue(viewer.PeerConnection().LocalDescription().SDP, "ice-pwd") +
		"\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\na=end-of-candidates\r\n"
	if resp, body := patch(t, resource, frag, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("trickle: %d %s", resp.StatusCode, body)
	}
	if resp, _ := patch(t, resource, frag, `"not-the-etag"`); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: got %d, want 412", resp.StatusCode)
	}
	if resp, body := patch(t, resource, "v=0\r\nbogus\r\n", ""); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad sdpfrag: got %d %s, want 400", resp.StatusCode, body)
	}

	// ICE restart: new credentials from the client; the answer fragment has the server's.
	pc := viewer.PeerConnection()
	oldRemote := pc.RemoteDescription().SDP
	local, err := testnode.GatheredOffer(pc, &webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	restart := "a=ice-ufrag:" + sdpValue(local, "ice-ufrag") + "\r\na=ice-pwd:" + sdpValue(local, "ice-pwd") + "\r\n"
	for _, line := range strings.Split(local, "\r\n") {
		if strings.HasPrefix(line, "a=candidate:") {
			restart += line + "\r\n"
		}
	}
	resp, body := patch(t, resource, restart, "*")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("ice restart: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	newUfrag := sdpValue(body, "ice-ufrag")
	if newUfrag == "" || newUfrag == sdpValue(oldRemote, "ice-ufrag") || !strings.Contains(body, "a=candidate:") {
		t.Fatalf("restart answer lacks new credentials or candidates:\n%s", body)
	}
	answer := replaceICE(oldRemote, newUfrag, sdpValue(body, "ice-pwd"), body)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("apply restart answer: %v", err)
	}
	before := rec.Count("video")
	testkit.Eventually(t, ctx, "media after the ICE restart", func() bool {
		pub.SendVideo(t, testnode.KeyframePayload(7), true)
		return rec.Count("video") > before+5 && pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected
	})
	if resp.Header.Get("ETag") == "" {
		t.Error("no ETag after restart")
	}
}

func sdpValue(sdp, key string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a="+key+":"); ok {
			return v
		}
	}
	return ""
}

// replaceICE rewrites an answer with new ICE credentials and the fragment's candidates.
func replaceICE(sdp, ufrag, pwd, frag string) string {
	var cands []string
	for _, line := range strings.Split(frag, "\r\n") {
		if strings.HasPrefix(line, "a=candidate:") {
			cands = append(cands, line)
		}
	}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(sdp, "\r\n"), "\r\n") {
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + pwd
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			continue
		}
		out = append(out, line)
		if strings.HasPrefix(line, "a=mid:") {
			out = append(out, cands...)
		}
	}
	return strings.Join(out, "\r\n") + "\r\n"
}
