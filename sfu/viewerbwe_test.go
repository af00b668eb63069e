package sfu_test

import (
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// TestViewerBWEMode: with Options.ViewerBWE remb the SFU answers a viewer that offers
// transport-cc (feedback and header extension) without either, so the viewer estimates its
// own bandwidth (REMB), and media still flows; by default, and with gcc (Glint's own
// estimator), both are negotiated. The SFU sends a viewer's packets itself (its own SRTP
// context and egress, sfu/egress.go) in every mode but transport-cc, whose pion estimator
// must see them in pion's write chain.
func TestViewerBWEMode(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		wantTWCC   bool
		wantEgress string
	}{{"", true, "glint"}, {sfu.ViewerBWETransportCC, true, "pion"}, {sfu.ViewerBWEGCC, true, "glint"}, {sfu.ViewerBWEREMB, false, "glint"}} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			ctx := testkit.Context(t, 30*time.Second)
			n := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) { o.ViewerBWE = tc.mode }})
			pub := n.Publish(t, ctx, "bwe")
			go pub.Feed(ctx)
			answer := postOffer(t, n.WHEP("bwe"), twccOffer(t))
			feedback, ext := false, false
			for _, l := range strings.Split(answer, "\n") {
				feedback = feedback || strings.HasPrefix(l, "a=rtcp-fb:") && strings.Contains(l, "transport-cc")
				ext = ext || strings.HasPrefix(l, "a=extmap:") && strings.Contains(l, "transport-wide-cc")
			}
			if feedback != tc.wantTWCC || ext != tc.wantTWCC {
				t.Errorf("answer: transport-cc feedback %v, transport-wide-cc extension %v; want %v\n%s", feedback, ext, tc.wantTWCC, answer)
			}
			viewer, rec := n.Play(t, ctx, "bwe")
			testkit.Eventually(t, ctx, "30 video and audio packets at the viewer", func() bool {
				return rec.Count("video") >= 30 && rec.Count("audio") >= 30
			})
			sess, ok := n.SFU.Session(path.Base(viewer.Location()))
			if !ok {
				t.Fatalf("no SFU session %s", viewer.Location())
			}
			for _, d := range sess.DownTracks() {
				if st := d.Stats(); st.Egress != tc.wantEgress {
					t.Errorf("%s track: egress %q, want %q", st.Kind, st.Egress, tc.wantEgress)
				}
			}
		})
	}
	if _, err := sfu.New(sfu.Options{ViewerBWE: "bogus"}); err == nil {
		t.Error("sfu.New accepted viewer bandwidth estimation \"bogus\"")
	}
}

// twccOffer is a pion viewer's offer with pion's default interceptors: transport-cc feedback
// and the transport-wide-cc header extension, as a browser offers them.
func twccOffer(t *testing.T) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(offer.SDP, "transport-wide-cc") || !strings.Contains(offer.SDP, "transport-cc") {
		t.Fatalf("the test offer lacks transport-cc:\n%s", offer.SDP)
	}
	return offer.SDP
}

func postOffer(t *testing.T, url, offer string) string {
	t.Helper()
	resp, err := http.Post(url, "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, body)
	}
	return string(body)
}
