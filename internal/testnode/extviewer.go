package testnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
)

// ExtViewer is a WHEP viewer on pion that offers chosen RTP header extensions on its audio
// and video sections and records every packet with its extensions.
type ExtViewer struct {
	PC  *webrtc.PeerConnection
	Rec *Received
}

// PlayWithExtensions plays url (a WHEP URL) over loopback offering the header extensions
// uris (none: only what pion's default interceptors add) and waits until connected. The
// session is deleted and closed at the end of the test.
func PlayWithExtensions(t testing.TB, ctx context.Context, whep string, uris ...string) *ExtViewer {
	t.Helper()
	me := &webrtc.MediaEngine{}
	ir := &interceptor.Registry{}
	errs := []error{me.RegisterDefaultCodecs(), webrtc.RegisterDefaultInterceptors(me, ir)}
	for _, uri := range uris {
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			errs = append(errs, me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, kind))
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(testkit.LoopbackSettingEngine())).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	v := &ExtViewer{PC: pc, Rec: NewReceived()}
	pc.OnTrack(RecordTrack(v.Rec))
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.negotiate(ctx, t, whep); err != nil {
		t.Fatalf("whep %s: %v", whep, err)
	}
	testkit.Eventually(t, ctx, "the viewer connected", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	return v
}

func (v *ExtViewer) negotiate(ctx context.Context, t testing.TB, whep string) error {
	loc, err := Negotiate(ctx, http.DefaultClient, v.PC, whep)
	if err != nil {
		return err
	}
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, loc, nil)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	})
	return nil
}

// Negotiate POSTs pc's gathered offer to url (a WHIP or WHEP URL) with hc, applies the answer
// and returns the session's absolute URL (its Location).
func Negotiate(ctx context.Context, hc *http.Client, pc *webrtc.PeerConnection, url string) (string, error) {
	offer, err := GatheredOffer(pc, nil)
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	base, _ := neturl.Parse(url)
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	return loc.String(), pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

// ExtensionID returns the id the answer gave uri on kind's receiver (0: not negotiated).
func (v *ExtViewer) ExtensionID(kind, uri string) uint8 {
	for _, tr := range v.PC.GetTransceivers() {
		if tr.Kind().String() != kind || tr.Receiver() == nil {
			continue
		}
		for _, e := range tr.Receiver().GetParameters().HeaderExtensions {
			if e.URI == uri {
				return uint8(e.ID)
			}
		}
	}
	return 0
}
