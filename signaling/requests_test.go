package signaling_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

func TestBadRequestsGetClearAnswers(t *testing.T) {
	authz, err := auth.New(auth.Options{RoomTokens: map[string]string{"secret": "s3cret"}, AdminKey: "adm1n"})
	if err != nil {
		t.Fatal(err)
	}
	srv := testnode.Start(t, testnode.Options{Handler: authz.Protect})
	offer := testkit.PionOffer(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo)
	cases := []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		status                          int
		reason                          string
	}{
		{"empty SDP", "POST", "/whip/a", "application/sdp", "", nil, 400, "empty offer"},
		{"malformed SDP", "POST", "/whip/a", "application/sdp", "hello", nil, 400, "bad SDP"},
		{"no media", "POST", "/whip/a", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", nil, 400, "no media"},
		{"wrong content type", "POST", "/whip/a", "text/plain", offer, nil, 415, "Content-Type"},
		{"body too big", "POST", "/whip/a", "application/sdp", strings.Repeat("a", signaling.MaxBodyBytes+1), nil, 413, "over"},
		{"bad room name", "POST", "/whip/a.b", "application/sdp", offer, nil, 400, "invalid room name"},
		{"room name too long", "POST", "/whip/" + strings.Repeat("r", 65), "application/sdp", offer, nil, 400, "invalid room name"},
		{"publisher offer only receives", "POST", "/whip/a", "application/sdp", offer, nil, 400, "sends no audio or video"},
		{"whep without publisher", "POST", "/whep/nobody", "application/sdp", offer, nil, 404, "has no publisher"},
		{"patch unknown session", "PATCH", "/whip/a/nope", "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", nil, 404, "no such session"},
		{"delete unknown session", "DELETE", "/whep/a/nope", "", "", nil, 404, "no such session"},
		{"token missing", "POST", "/whip/secret", "application/sdp", offer, nil, 401, "needs a token"},
		{"token wrong", "POST", "/whip/secret", "application/sdp", offer, map[string]string{"Authorization": "Bearer nope"}, 401, "invalid token"},
		{"room info unknown", "GET", "/api/rooms/zzz", "", "", map[string]string{"Authorization": "Bearer adm1n"}, 404, "no room"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.reason) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, body, tc.status, tc.reason)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") == "" {
				t.Error("no CORS header on an error answer")
			}
		})
	}
}

func TestCodecMismatchesAre406WithTheCodecList(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	h265 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "profile-id=2"}, PayloadType: 49}
	track, _ := webrtc.NewTrackLocalStaticRTP(h265.RTPCodecCapability, "v", "s")
	_, err := client.Publish(ctx, srv.WHIP("codec"), []webrtc.TrackLocal{track}, client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{h265}})
	assertHTTPError(t, err, 406, "H264, VP8, VP9, AV1, H265")

	srv.Publish(t, ctx, "codec")
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	_, err = client.Play(ctx, srv.WHEP("codec"), client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{vp8}}, webrtc.RTPCodecTypeVideo)
	assertHTTPError(t, err, 406, "H264")
}

func TestSecondPublisherIsRefusedOrReplaces(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	srv.Publish(t, ctx, "busy")
	_, err := testnode.TryPublisher(ctx, srv.WHIP("busy"), client.Options{})
	assertHTTPError(t, err, 409, "already has a publisher")

	repl := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) { o.ReplacePublisher = true }})
	old := repl.Publish(t, ctx, "swap")
	viewer, rec := repl.Play(t, ctx, "swap")
	next := testnode.StartPublisher(t, ctx, repl.WHIP("swap"), client.Options{})
	select {
	case <-old.Session.Done():
	case <-ctx.Done():
		t.Fatal("replaced publisher was not disconnected")
	}
	next.GoLive(t, ctx, repl, "swap")
	next.Prime(t, ctx, rec)
	before := rec.Count("video")
	for i := range 20 {
		next.SendVideo(t, testnode.DeltaPayload(i), true)
	}
	testkit.Eventually(t, ctx, "the replacing publisher's media", func() bool { return rec.Count("video") >= before+15 })
	select {
	case <-viewer.Done():
		t.Fatal("viewer lost across a replace")
	default:
	}
}

func assertHTTPError(t *testing.T, err error, status int, reason string) {
	t.Helper()
	var he *client.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("want HTTP %d, got %v", status, err)
	}
	if he.Status != status || !strings.Contains(he.Body, reason) {
		t.Fatalf("got %d %q, want %d containing %q", he.Status, he.Body, status, reason)
	}
}

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
