package sfu_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/signaling"
)

// rtcpLog is a RelayUpstream that keeps the keyframe requests sent upstream.
type rtcpLog struct {
	mu   sync.Mutex
	plis map[uint32]int // by media SSRC
}

func (l *rtcpLog) WriteRTCP(pkts []rtcp.Packet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range pkts {
		if pli, ok := p.(*rtcp.PictureLossIndication); ok {
			l.plis[pli.MediaSSRC]++
		}
	}
	return nil
}

func (l *rtcpLog) count(ssrc uint32) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.plis[ssrc]
}

// TestRelayedAlternate: a relayed H.265 room whose relay publisher says its upstream has
// the alternate video (SetAlternateAt) shows it in its room info. An H.264-only viewer
// waits for it: without it, it is refused (406) naming the origin's URL; once the relay
// publishes the alternate (PublishAlternate), the viewer plays it, its keyframe requests
// go upstream with the upstream's SSRC, and another node's relay asking for the
// alternate only (the cluster secret and signaling.AlternateHeader) gets it, without
// counting as a second relay (before the alternate, such a request is 404); without the
// secret the header is ignored. The alternate ends with the relay publisher.
func TestRelayedAlternate(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	const secret, origin = "cluster-secret", "http://origin.example/whep/hevc"
	srv := testnode.Start(t, testnode.Options{Signaling: func(o *signaling.Options) { o.ClusterSecret = secret }})
	h265 := webrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}}
	h264 := webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: testnode.H264Codec()}
	up := &rtcpLog{plis: map[uint32]int{}}
	relayPub, err := srv.SFU.PublishRelay("hevc", up)
	if err != nil {
		t.Fatal(err)
	}
	defer relayPub.Close()
	video, err := relayPub.AddTrack("video", "", h265, 1111)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint16
	packet := func(payload []byte) []byte {
		seq++
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: payload}).Marshal()
		return b
	}
	video.WriteRTP(packet([]byte{19 << 1, 1, 0xaa, 0xbb}))
	srv.WaitLive(t, ctx, "hevc")
	relayOpts := client.Options{LoopbackOnly: true, Token: secret, Header: http.Header{signaling.AlternateHeader: {"1"}},
		Codecs: []webrtc.RTPCodecParameters{h264}}
	_, err = client.Play(ctx, srv.WHEP("hevc"), relayOpts, webrtc.RTPCodecTypeVideo)
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotFound || !strings.Contains(he.Body, "no alternate video") {
		t.Errorf("a relay of the alternate of a room without one: %v; want 404", err)
	}
	relayPub.SetAlternateAt(origin, h264.SDPFmtpLine)
	if info, _ := srv.SFU.Room("hevc"); info.Alternate == nil || info.Alternate.Fmtp != h264.SDPFmtpLine {
		t.Errorf("room info alternate %+v; want the upstream's H264", info.Alternate)
	}

	h264Only := client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{h264}}
	_, err = client.Play(ctx, srv.WHEP("hevc"), h264Only, webrtc.RTPCodecTypeVideo)
	if !errors.As(err, &he) || he.Status != http.StatusNotAcceptable || !strings.Contains(he.Body, origin) {
		t.Fatalf("H.264-only viewer while the alternate has not arrived: %v; want 406 naming %s", err, origin)
	}

	altUp := &rtcpLog{plis: map[uint32]int{}}
	played := make(chan error, 1)
	rec := testnode.NewReceived()
	var viewer *client.Session
	go func() {
		opts := h264Only
		opts.OnTrack = testnode.RecordTrack(rec)
		var err error
		viewer, err = client.Play(ctx, srv.WHEP("hevc"), opts, webrtc.RTPCodecTypeVideo)
		played <- err
	}()
	time.Sleep(200 * time.Millisecond) // the viewer's offer is (most likely) waiting
	alt, err := relayPub.PublishAlternate(h264, 2222, altUp)
	if err != nil {
		t.Fatal(err)
	}
	feed, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	go func() {
		for n := 0; feed.Err() == nil; n++ {
			alt.WriteRTP(packet(testnode.KeyframePayload(n)))
			time.Sleep(33 * time.Millisecond)
		}
	}()
	if err := <-played; err != nil {
		t.Fatalf("H.264-only viewer waiting for the alternate: %v", err)
	}
	defer viewer.Close(context.Background())
	testkit.Eventually(t, ctx, "the viewer plays the relayed alternate", func() bool { return rec.Count("video") > 0 })
	testkit.Eventually(t, ctx, "its keyframe request goes upstream", func() bool {
		for ssrc := range rec.SSRCs("video") {
			_ = viewer.PeerConnection().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		}
		return altUp.count(2222) > 0
	})

	downstream := testnode.NewReceived()
	relayOpts.OnTrack = testnode.RecordTrack(downstream)
	relaySess, err := client.Play(ctx, srv.WHEP("hevc"), relayOpts, webrtc.RTPCodecTypeVideo)
	if err != nil {
		t.Fatalf("another node's relay of the alternate: %v", err)
	}
	defer relaySess.Close(context.Background())
	testkit.Eventually(t, ctx, "the relay of the alternate gets it", func() bool { return downstream.Count("video") > 0 })
	if info, _ := srv.SFU.Room("hevc"); info.Relays != 0 || info.Viewers != 1 {
		t.Errorf("room info: %d relays, %d viewers; want 0 (a relay of the alternate only) and 1", info.Relays, info.Viewers)
	}
	relayOpts.Token = ""
	if sess, err := client.Play(ctx, srv.WHEP("hevc"), relayOpts, webrtc.RTPCodecTypeVideo); err != nil {
		t.Errorf("the header without the cluster secret: %v; want an ordinary viewer of the alternate", err)
	} else {
		defer sess.Close(context.Background())
	}

	stopFeed()
	relayPub.Close()
	select {
	case <-alt.Context().Done():
	case <-ctx.Done():
		t.Fatal("the relayed alternate outlived its relay publisher")
	}
}
