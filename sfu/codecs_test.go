package sfu

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

func mediaOf(t *testing.T, raw string, i int) offeredMedia {
	t.Helper()
	o, err := parseOffer(raw)
	if err != nil {
		t.Fatal(err)
	}
	return o.Media[i]
}

func TestPublisherCodecs(t *testing.T) {
	tests := []struct {
		name    string
		media   offeredMedia
		wantPTs []uint8
	}{
		// Chromium: VP8, VP9 profiles 0 and 2, H.264 42001f/42e01f/4d001f in both
		// packetization modes, AV1 profile 0; red and ulpfec are left out.
		{"chromium video", mediaOf(t, chromiumSimulcastOffer, 0), []uint8{96, 98, 100, 102, 104, 106, 108, 127, 39, 45}},
		{"chromium audio", mediaOf(t, chromiumSimulcastOffer, 1), []uint8{111}},
		// 42c01f is constrained baseline spelled with constraint_set0 too.
		{"gstreamer video", mediaOf(t, gstreamerOffer, 0), []uint8{96}},
		{"gstreamer upper-case OPUS", mediaOf(t, gstreamerOffer, 1), []uint8{111}},
		{"H.264 high 640032", mediaOf(t, minimalOffer(minimalSection("video", "0", "sendonly", "100",
			"a=rtpmap:100 H264/90000", "a=fmtp:100 packetization-mode=1;profile-level-id=640032")), 0), []uint8{100}},
		{"H.264 high at another level", mediaOf(t, minimalOffer(minimalSection("video", "0", "sendonly", "100",
			"a=rtpmap:100 H264/90000", "a=fmtp:100 packetization-mode=1;profile-level-id=64001f")), 0), []uint8{100}},
		{"VP9 without profile-id is profile 0", mediaOf(t, minimalOffer(minimalSection("video", "0", "sendonly", "98",
			"a=rtpmap:98 VP9/90000")), 0), []uint8{98}},
		{"H.265 without profile-id is Main", mediaOf(t, minimalOffer(minimalSection("video", "0", "sendonly", "49",
			"a=rtpmap:49 H265/90000")), 0), []uint8{49}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := publisherCodecs(tt.media)
			if err != nil {
				t.Fatal(err)
			}
			var pts []uint8
			for _, c := range got {
				pts = append(pts, c.PayloadType)
			}
			if !reflect.DeepEqual(pts, tt.wantPTs) {
				t.Fatalf("payload types %v, want %v", pts, tt.wantPTs)
			}
		})
	}
}

func TestPublisherCodecsRefused(t *testing.T) {
	tests := []struct {
		name        string
		media       offeredMedia
		wantOffered []string
		wantAllowed string
	}{
		{
			name: "AV1 high profile and H.265 Main 10 only",
			media: mediaOf(t, minimalOffer(minimalSection("video", "0", "sendonly", "45 46 49",
				"a=rtpmap:45 AV1/90000", "a=fmtp:45 level-idx=5;profile=1;tier=0",
				"a=rtpmap:46 rtx/90000", "a=fmtp:46 apt=45", "a=rtpmap:49 H265/90000", "a=fmtp:49 profile-id=2")), 0),
			wantOffered: []string{"AV1 (level-idx=5;profile=1;tier=0)", "H265 (profile-id=2)"},
			wantAllowed: "H264, VP8, VP9, AV1, H265",
		},
		{
			name: "H.264 constrained high, VP9 profile 1, VP8 at the wrong clock",
			media: mediaOf(t, minimalOffer(minimalSection("video", "0", "sendonly", "102 98 96",
				"a=rtpmap:102 H264/90000", "a=fmtp:102 packetization-mode=1;profile-level-id=640c1f",
				"a=rtpmap:98 VP9/90000", "a=fmtp:98 profile-id=1", "a=rtpmap:96 VP8/48000")), 0),
			wantOffered: []string{"H264 (packetization-mode=1;profile-level-id=640c1f)", "VP9 (profile-id=1)", "VP8"},
			wantAllowed: "H264, VP8, VP9, AV1, H265",
		},
		{
			name: "G.711 only",
			media: mediaOf(t, minimalOffer(minimalSection("audio", "0", "sendonly", "0 8",
				"a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000")), 0),
			wantOffered: []string{"PCMU", "PCMA"},
			wantAllowed: "opus",
		},
		{
			name:        "no codec named at all",
			media:       mediaOf(t, minimalOffer(minimalSection("audio", "0", "sendonly", "0")), 0),
			wantOffered: nil,
			wantAllowed: "opus",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := publisherCodecs(tt.media)
			if err == nil {
				t.Fatalf("accepted %+v", got)
			}
			checkCodecError(t, err, tt.media.Kind, tt.wantOffered, tt.wantAllowed)
		})
	}
}

func checkCodecError(t *testing.T, err error, kind string, offered []string, allowed string) {
	t.Helper()
	var ce *CodecError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is %T, want *CodecError (answered 406)", err, err)
	}
	if ce.Kind != kind || !reflect.DeepEqual(ce.Offered, offered) || ce.Allowed != allowed {
		t.Fatalf("CodecError %+v, want kind %s offered %q allowed %q", ce, kind, offered, allowed)
	}
	msg := err.Error()
	for _, w := range append([]string{"no usable " + kind + " codec", allowed}, offered...) {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not mention %q", msg, w)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q is not one line", msg)
	}
}

func roomCodec(mime string, clock uint32, channels uint16, fmtp string) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: mime, ClockRate: clock, Channels: channels, SDPFmtpLine: fmtp,
	}}
}

func TestChooseViewerCodec(t *testing.T) {
	chromeRecv := strings.ReplaceAll(chromiumSimulcastOffer, "a=sendonly", "a=recvonly")
	tests := []struct {
		name   string
		media  offeredMedia
		room   webrtc.RTPCodecParameters
		wantPT uint8
	}{
		{"VP8", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeVP8, 90000, 0, ""), 96},
		{"VP9 profile 2", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeVP9, 90000, 0, "profile-id=2"), 100},
		{"VP9 no profile-id means 0", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeVP9, 90000, 0, ""), 98},
		{"H.264 42e01f mode 1", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeH264, 90000, 0, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"), 106},
		{"H.264 42e01f mode 0", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeH264, 90000, 0, "packetization-mode=0;profile-level-id=42e01f"), 108},
		{"H.264 42001f mode 1", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeH264, 90000, 0, "packetization-mode=1;profile-level-id=42001f"), 102},
		{"H.264 4d0032 mode 1 (level ignored)", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeH264, 90000, 0, "packetization-mode=1;profile-level-id=4d0032"), 127},
		{"H.264 42c01f from GStreamer to Chromium's 42e01f", mediaOf(t, chromeRecv, 0), roomCodec(webrtc.MimeTypeH264, 90000, 0, "packetization-mode=1;profile-level-id=42c01f;sprop-parameter-sets=Z0LAH9kAUAW7ARAAAAMAEAAAAwPA8YMkgA==,aM4PyA=="), 106},
		{"opus", mediaOf(t, chromeRecv, 1), roomCodec(webrtc.MimeTypeOpus, 48000, 2, "minptime=10;useinbandfec=1"), 111},
		{"opus to upper-case OPUS", mediaOf(t, gstreamerOffer, 1), roomCodec(webrtc.MimeTypeOpus, 48000, 2, ""), 111},
		{"firefox H.264", mediaOf(t, firefoxStyleOffer, 0), roomCodec(webrtc.MimeTypeH264, 90000, 0, "packetization-mode=1;profile-level-id=42e01f"), 126},
		{"firefox H.264 mode 0", mediaOf(t, firefoxStyleOffer, 0), roomCodec(webrtc.MimeTypeH264, 90000, 0, "profile-level-id=42e01f"), 97},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := chooseViewerCodec(tt.media, tt.room)
			if err != nil {
				t.Fatal(err)
			}
			if c.PayloadType != tt.wantPT {
				t.Fatalf("chose PT %d (%s %s), want %d", c.PayloadType, c.MimeType, c.Fmtp, tt.wantPT)
			}
		})
	}
}

func TestChooseViewerCodecRefused(t *testing.T) {
	h264Only := mediaOf(t, minimalOffer(minimalSection("video", "0", "recvonly", "102 103",
		"a=rtpmap:102 H264/90000", "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f",
		"a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=102")), 0)
	tests := []struct {
		name        string
		media       offeredMedia
		room        webrtc.RTPCodecParameters
		wantOffered []string
		wantAllowed string
	}{
		{"VP8 room, H.264 viewer", h264Only, roomCodec(webrtc.MimeTypeVP8, 90000, 0, ""),
			[]string{"H264 (packetization-mode=1;profile-level-id=42e01f)"}, "VP8"},
		{"H.264 mode 0 room, mode 1 viewer", h264Only, roomCodec(webrtc.MimeTypeH264, 90000, 0, "packetization-mode=0;profile-level-id=42e01f"),
			[]string{"H264 (packetization-mode=1;profile-level-id=42e01f)"}, "H264 (packetization-mode=0;profile-level-id=42e01f)"},
		{"H.264 high room, baseline viewer", h264Only, roomCodec(webrtc.MimeTypeH264, 90000, 0, "packetization-mode=1;profile-level-id=640032"),
			[]string{"H264 (packetization-mode=1;profile-level-id=42e01f)"}, "H264 (packetization-mode=1;profile-level-id=640032)"},
		{"VP9 profile 2 room, profile 0 viewer", mediaOf(t, minimalOffer(minimalSection("video", "0", "recvonly", "98", "a=rtpmap:98 VP9/90000")), 0),
			roomCodec(webrtc.MimeTypeVP9, 90000, 0, "profile-id=2"), []string{"VP9"}, "VP9 (profile-id=2)"},
		{"opus room, G.711 viewer", mediaOf(t, minimalOffer(minimalSection("audio", "0", "recvonly", "0", "a=rtpmap:0 PCMU/8000")), 0),
			roomCodec(webrtc.MimeTypeOpus, 48000, 2, "minptime=10;useinbandfec=1"), []string{"PCMU"}, "opus (minptime=10;useinbandfec=1)"},
		{"opus at another clock", mediaOf(t, minimalOffer(minimalSection("audio", "0", "recvonly", "111", "a=rtpmap:111 opus/16000")), 0),
			roomCodec(webrtc.MimeTypeOpus, 48000, 2, ""), []string{"opus"}, "opus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := chooseViewerCodec(tt.media, tt.room)
			if err == nil {
				t.Fatalf("chose %+v", c)
			}
			checkCodecError(t, err, tt.media.Kind, tt.wantOffered, tt.wantAllowed)
		})
	}
}

// pionOffer is a real offer from a pion PeerConnection (what Glint's own client and many Go
// WHIP/WHEP tools send): one transceiver per kind in the given direction, default codecs.
