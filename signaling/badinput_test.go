package signaling

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/sfu"
)

// validOffer is a minimal but real pion offer, made once.
func validOffer(t *testing.T, kinds ...webrtc.RTPCodecType) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func TestBadRequestsGetClearAnswers(t *testing.T) {
	srv := newTestServer(t, func(_ *sfu.Options, o *Options) { o.RoomTokens = map[string]string{"secret": "s3cret"} })
	offer := validOffer(t, webrtc.RTPCodecTypeVideo)
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
		{"body too big", "POST", "/whip/a", "application/sdp", strings.Repeat("a", MaxBodyBytes+1), nil, 413, "over"},
		{"bad room name", "POST", "/whip/a.b", "application/sdp", offer, nil, 400, "invalid room name"},
		{"room name too long", "POST", "/whip/" + strings.Repeat("r", 65), "application/sdp", offer, nil, 400, "invalid room name"},
		{"publisher offer only receives", "POST", "/whip/a", "application/sdp", offer, nil, 400, "sends no audio or video"},
		{"whep without publisher", "POST", "/whep/nobody", "application/sdp", offer, nil, 404, "has no publisher"},
		{"patch unknown session", "PATCH", "/whip/a/nope", "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", nil, 404, "no such session"},
		{"delete unknown session", "DELETE", "/whep/a/nope", "", "", nil, 404, "no such session"},
		{"token missing", "POST", "/whip/secret", "application/sdp", offer, nil, 401, "bearer token"},
		{"token wrong", "POST", "/whip/secret", "application/sdp", offer, map[string]string{"Authorization": "Bearer nope"}, 401, "bearer token"},
		{"room info unknown", "GET", "/api/rooms/zzz", "", "", nil, 404, "no room"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.url+tc.path, strings.NewReader(tc.body))
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
	ctx := testContext(t, 20*time.Second)
	srv := newTestServer(t, nil)
	av1 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, PayloadType: 45}
	track, _ := webrtc.NewTrackLocalStaticRTP(av1.RTPCodecCapability, "v", "s")
	_, err := client.Publish(ctx, srv.url+"/whip/codec", []webrtc.TrackLocal{track}, client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{av1}})
	assertHTTPError(t, err, 406, "H264, VP8, VP9")

	pub := startPublisher(t, ctx, srv.url+"/whip/codec", client0())
	pub.goLive(t, ctx, srv, "codec")
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	_, err = client.Play(ctx, srv.url+"/whep/codec", client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{vp8}}, webrtc.RTPCodecTypeVideo)
	assertHTTPError(t, err, 406, "H264")
}

func TestSecondPublisherIsRefusedOrReplaces(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	srv := newTestServer(t, nil)
	first := startPublisher(t, ctx, srv.url+"/whip/busy", client0())
	first.goLive(t, ctx, srv, "busy")
	_, err := tryPublisher(ctx, srv.url+"/whip/busy", client0())
	assertHTTPError(t, err, 409, "already has a publisher")

	repl := newTestServer(t, func(o *sfu.Options, _ *Options) { o.ReplacePublisher = true })
	old := startPublisher(t, ctx, repl.url+"/whip/swap", client0())
	old.goLive(t, ctx, repl, "swap")
	viewer, rec := startViewer(t, ctx, repl.url+"/whep/swap")
	next := startPublisher(t, ctx, repl.url+"/whip/swap", client0())
	select {
	case <-old.sess.Done():
	case <-ctx.Done():
		t.Fatal("replaced publisher was not disconnected")
	}
	next.goLive(t, ctx, repl, "swap")
	next.prime(t, ctx, rec)
	before := rec.count("video")
	for i := range 20 {
		next.sendVideo(t, deltaPayload(i), true)
	}
	eventually(t, ctx, "the replacing publisher's media", func() bool { return rec.count("video") >= before+15 })
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
