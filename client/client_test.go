package client_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/client/clienttest"
	"github.com/glint-video/glint/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newVP8Track(t *testing.T) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "test")
	if err != nil {
		t.Fatal(err)
	}
	return track
}

func TestPublishConnectsSendsMediaAndDeletesOnClose(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := clienttest.NewServer(t, clienttest.Config{Token: "secret"})
	track := newVP8Track(t)

	sess, err := client.Publish(ctx, srv.WHIPURL("room1"), []webrtc.TrackLocal{track},
		client.Options{Token: "secret", LoopbackOnly: true})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("Connected: %v", err)
	}

	var seq uint16
	testkit.Eventually(t, ctx, "VP8 packets at the server", func() bool {
		seq++
		pkt := &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true},
			Payload: []byte{0x10, 0x00, 0x00, 0x00},
		}
		if err := track.WriteRTP(pkt); err != nil {
			t.Fatalf("WriteRTP: %v", err)
		}
		return srv.Packets(webrtc.MimeTypeVP8) >= 5
	})

	if err := sess.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-sess.Done():
	default:
		t.Error("Done not closed after Close")
	}

	want := []clienttest.Request{
		{Method: "POST", Path: "/whip/room1", ContentType: "application/sdp", Authorization: "Bearer secret"},
		{Method: "DELETE", Path: "/whip/room1/s1", Authorization: "Bearer secret"},
	}
	got := srv.Requests()
	if len(got) != len(want) {
		t.Fatalf("requests = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("server still has %d sessions after Close", n)
	}
}

func TestSignalingErrorsAreHTTPErrors(t *testing.T) {
	tests := []struct {
		name       string
		cfg        clienttest.Config
		token      string
		wantStatus int
		wantBody   string
	}{
		{"room busy", clienttest.Config{RejectStatus: 409, RejectBody: `{"error":"room busy"}`}, "", 409, "room busy"},
		{"no publisher", clienttest.Config{RejectStatus: 404, RejectBody: `{"error":"no publisher"}`}, "", 404, "no publisher"},
		{"no codec", clienttest.Config{RejectStatus: 406, RejectBody: `{"error":"room offers H264"}`}, "", 406, "H264"},
		{"wrong token", clienttest.Config{Token: "right"}, "wrong", 401, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testkit.Context(t, 20*time.Second)
			srv := clienttest.NewServer(t, tt.cfg)
			opts := client.Options{Token: tt.token, LoopbackOnly: true}

			_, pubErr := client.Publish(ctx, srv.WHIPURL("r"), []webrtc.TrackLocal{newVP8Track(t)}, opts)
			_, playErr := client.Play(ctx, srv.WHEPURL("r"), opts)
			for _, err := range []error{pubErr, playErr} {
				var httpErr *client.HTTPError
				if !errors.As(err, &httpErr) {
					t.Fatalf("error %v is not an *HTTPError", err)
				}
				if httpErr.Status != tt.wantStatus || !strings.Contains(httpErr.Body, tt.wantBody) {
					t.Errorf("HTTPError = %d %q, want %d containing %q", httpErr.Status, httpErr.Body, tt.wantStatus, tt.wantBody)
				}
			}
			for _, req := range srv.Requests() {
				if req.Method != "POST" {
					t.Errorf("unexpected %s %s after a rejected offer", req.Method, req.Path)
				}
			}
		})
	}
}

func TestLocationIsResolved(t *testing.T) {
	for _, absolute := range []bool{false, true} {
		ctx := testkit.Context(t, 20*time.Second)
		srv := clienttest.NewServer(t, clienttest.Config{AbsoluteLocation: absolute})
		sess, err := client.Publish(ctx, srv.WHIPURL("loc"), []webrtc.TrackLocal{newVP8Track(t)},
			client.Options{LoopbackOnly: true})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if got, want := sess.Location(), srv.URL+"/whip/loc/s1"; got != want {
			t.Errorf("absolute=%v: Location() = %q, want %q", absolute, got, want)
		}
		if err := sess.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestPlayDeliversTracksToOnTrack(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := clienttest.NewServer(t, clienttest.Config{})

	var mu sync.Mutex
	packets := map[string]int{}
	onTrack := func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := track.ReadRTP(); err != nil {
				return
			}
			mu.Lock()
			packets[track.Codec().MimeType]++
			mu.Unlock()
		}
	}
	sess, err := client.Play(ctx, srv.WHEPURL("room"), client.Options{LoopbackOnly: true, OnTrack: onTrack})
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("Connected: %v", err)
	}
	testkit.Eventually(t, ctx, "VP8 and Opus packets", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return packets[webrtc.MimeTypeVP8] >= 3 && packets[webrtc.MimeTypeOpus] >= 3
	})
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestPlayWithoutOnTrackDrainsAndCloses(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := clienttest.NewServer(t, clienttest.Config{})
	sess, err := client.Play(ctx, srv.WHEPURL("room"), client.Options{LoopbackOnly: true}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("Connected: %v", err)
	}
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sess.Connected(ctx); err != nil {
		t.Errorf("Connected after Close of a connected session = %v, want nil", err)
	}
}

func TestCodecsRestrictTheOffer(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := clienttest.NewServer(t, clienttest.Config{})
	vp8 := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		PayloadType:        96,
	}
	sess, err := client.Play(ctx, srv.WHEPURL("room"),
		client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{vp8}}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	defer func() { _ = sess.Close(ctx) }()

	offer := sess.PeerConnection().LocalDescription().SDP
	for _, want := range []string{"VP8/90000", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 goog-remb", "a=rtcp-fb:96 transport-cc"} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	if strings.Contains(offer, "H264") {
		t.Errorf("offer has H264 although only VP8 was allowed:\n%s", offer)
	}
}

func TestPublishFailsWhenServerIsGone(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := clienttest.NewServer(t, clienttest.Config{})
	url := srv.WHIPURL("room")
	srv.Close()
	_, err := client.Publish(ctx, url, []webrtc.TrackLocal{newVP8Track(t)}, client.Options{LoopbackOnly: true})
	if err == nil {
		t.Fatal("Publish to a closed server succeeded")
	}
	var httpErr *client.HTTPError
	if errors.As(err, &httpErr) {
		t.Errorf("connection error reported as HTTP status %d", httpErr.Status)
	}
}

func TestPublishHonoursContext(t *testing.T) {
	srv := clienttest.NewServer(t, clienttest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.Publish(ctx, srv.WHIPURL("room"), []webrtc.TrackLocal{newVP8Track(t)}, client.Options{LoopbackOnly: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context = %v, want context.Canceled", err)
	}
}

// OnRTCP hears the server's keyframe requests about the track they concern.
func TestPublishOnRTCPGetsKeyframeRequests(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := clienttest.NewServer(t, clienttest.Config{})
	video, audio := newVP8Track(t), newOpusTrack(t)
	var mu sync.Mutex
	plis := map[string]int{} // by track ID
	sess, err := client.Publish(ctx, srv.WHIPURL("room1"), []webrtc.TrackLocal{video, audio}, client.Options{
		LoopbackOnly: true,
		OnRTCP: func(track webrtc.TrackLocal, pkts []rtcp.Packet) {
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					mu.Lock()
					plis[track.ID()]++
					mu.Unlock()
				}
			}
		},
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer func() { _ = sess.Close(ctx) }()
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("Connected: %v", err)
	}
	var seq uint16
	testkit.Eventually(t, ctx, "a keyframe request heard", func() bool {
		seq++
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true},
			Payload: []byte{0x10, 0x00, 0x00, 0x00}}
		if err := video.WriteRTP(pkt); err != nil {
			t.Fatalf("WriteRTP: %v", err)
		}
		srv.RequestKeyframes()
		mu.Lock()
		defer mu.Unlock()
		return plis["video"] > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if plis["audio"] != 0 {
		t.Errorf("keyframe requests reported for the audio track: %v", plis)
	}
}

// Tracks with RIDs and the same ID become the encodings of one simulcast sender.
func TestPublishGroupsSimulcastEncodings(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	srv := clienttest.NewServer(t, clienttest.Config{})
	var tracks []webrtc.TrackLocal
	for _, rid := range []string{"h", "m", "l"} {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8},
			"video", "test", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		tracks = append(tracks, track)
	}
	tracks = append(tracks, newOpusTrack(t))
	sess, err := client.Publish(ctx, srv.WHIPURL("room1"), tracks, client.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer func() { _ = sess.Close(ctx) }()
	trs := sess.PeerConnection().GetTransceivers()
	if len(trs) != 2 {
		t.Fatalf("%d transceivers, want 2 (video with three encodings, audio)", len(trs))
	}
	if n := len(trs[0].Sender().GetParameters().Encodings); n != 3 {
		t.Errorf("video sender has %d encodings, want 3", n)
	}
	offer := sess.PeerConnection().LocalDescription().SDP
	for _, want := range []string{"a=simulcast:send h;m;l", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q", want)
		}
	}
}

func newOpusTrack(t *testing.T) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "test")
	if err != nil {
		t.Fatal(err)
	}
	return track
}
