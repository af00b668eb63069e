package sfu

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
)

// crlf turns a readable offer written with \n into the CRLF form clients send.
func crlf(s string) string {
	return strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n")
}

// Offers of real clients live in the FuzzParseOffer seed corpus (testdata/fuzz/), one per
// file, so that the fuzzer starts from them and the table tests read the same bytes.
var (
	// Chromium 156 publishing a fake camera in three simulcast layers (rid l/m/h) plus Opus,
	// after ICE gathering (non-trickle): every video codec has an rtx format, and
	// red/ulpfec/AV1 come along. PTs: VP8 96/97, VP9 98/99 (profile 0) and 100/101 (2),
	// H.264 102/103 42001f pm1, 104/105 42001f pm0, 106/107 42e01f pm1, 108/109 42e01f pm0,
	// 127/125 4d001f pm1, 39/40 4d001f pm0, AV1 45/46, red 116/117, ulpfec 118; audio
	// opus 111, red 63, G722 9, PCMU 0, PCMA 8, CN 13, telephone-event 110 and 126.
	chromiumSimulcastOffer = corpusString("FuzzParseOffer", "chromium-simulcast-rtx")
	// GStreamer 1.22 webrtcbin as in clients/gst-whip.py: x264enc constrained baseline
	// (H264 96, 42c01f with sprop-parameter-sets), upper-case OPUS 111, SSRC lines, mids
	// video0/audio1, 127.0.0.1 candidates added by hand, sendonly transceivers.
	gstreamerOffer = corpusString("FuzzParseOffer", "gstreamer-webrtcbin")
	// Firefox style: fingerprint and ICE credentials at session level, fmtp before rtpmap,
	// rtcp-fb:*, a recvonly viewer (VP8 120/124, VP9 121/125, H.264 126/127 pm1 and
	// 97/98 pm0, opus 109) with a data channel.
	firefoxStyleOffer = corpusString("FuzzParseOffer", "firefox-session-level-datachannel")
)

// corpusString reads a one-string file of the `go test fuzz v1` format.
func corpusString(target, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", target, name))
	if err != nil {
		panic(err)
	}
	lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\nstring(")
	if !ok || !strings.HasSuffix(lit, ")") {
		panic(name + ": not a go test fuzz v1 string")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if err != nil {
		panic(name + ": " + err.Error())
	}
	return s
}

// minimalSection is one m-section of minimalOffer with only what parseOffer needs.
func minimalSection(kind, mid, direction, formats string, attrs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "m=%s 9 UDP/TLS/RTP/SAVPF %s\n", kind, formats)
	b.WriteString("c=IN IP4 0.0.0.0\n")
	b.WriteString("a=ice-ufrag:abcd\na=ice-pwd:0123456789abcdef01234567\n")
	b.WriteString("a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\n")
	b.WriteString("a=setup:actpass\na=mid:" + mid + "\n")
	if direction != "" {
		b.WriteString("a=" + direction + "\n")
	}
	for _, a := range attrs {
		b.WriteString(a + "\n")
	}
	return b.String()
}

func minimalOffer(sections ...string) string {
	return crlf("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\n" + strings.Join(sections, ""))
}

var (
	vp8Section  = minimalSection("video", "0", "sendonly", "96 97", "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96")
	opusSection = minimalSection("audio", "1", "sendonly", "111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1")
)

func TestParseOfferChromiumSimulcast(t *testing.T) {
	o, err := parseOffer(chromiumSimulcastOffer)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Media) != 2 {
		t.Fatalf("%d media, want 2", len(o.Media))
	}
	video, audio := o.Media[0], o.Media[1]
	if video.Kind != "video" || video.Mid != "0" || video.Direction != "sendonly" {
		t.Errorf("video = %s mid %q %s", video.Kind, video.Mid, video.Direction)
	}
	var pts []uint8
	var names []string
	for _, c := range video.Codecs {
		pts = append(pts, c.PayloadType)
		names = append(names, c.MimeType)
	}
	wantPTs := []uint8{96, 98, 100, 102, 104, 106, 108, 127, 39, 45, 116, 118}
	if !reflect.DeepEqual(pts, wantPTs) {
		t.Errorf("video payload types %v (%v), want %v: rtx formats are not codecs, order is kept", pts, names, wantPTs)
	}
	wantRTX := map[uint8]uint8{96: 97, 98: 99, 100: 101, 102: 103, 104: 105, 106: 107, 108: 109, 127: 125, 39: 40, 45: 46, 116: 117}
	if !reflect.DeepEqual(video.rtxFor, wantRTX) {
		t.Errorf("rtxFor = %v, want %v", video.rtxFor, wantRTX)
	}
	h264 := video.Codecs[5]
	if h264.MimeType != "video/H264" || h264.ClockRate != 90000 ||
		h264.Fmtp != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" {
		t.Errorf("PT 106 = %+v", h264)
	}
	wantFB := []string{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"}
	if !reflect.DeepEqual(h264.Feedback, wantFB) {
		t.Errorf("PT 106 feedback %q, want %q", h264.Feedback, wantFB)
	}
	if audio.Kind != "audio" || audio.Mid != "1" || audio.Direction != "sendonly" || len(audio.rtxFor) != 0 {
		t.Errorf("audio = %+v", audio)
	}
	opus := audio.Codecs[0]
	want := offeredCodec{PayloadType: 111, MimeType: "audio/opus", ClockRate: 48000, Channels: 2,
		Fmtp: "minptime=10;useinbandfec=1", Feedback: []string{"transport-cc"}}
	if !reflect.DeepEqual(opus, want) {
		t.Errorf("opus = %+v, want %+v", opus, want)
	}
	if len(audio.Codecs) != 8 {
		t.Errorf("%d audio codecs, want 8", len(audio.Codecs))
	}
}

func TestParseOfferRealClients(t *testing.T) {
	tests := []struct {
		name  string
		offer string
		want  []string // kind/mid/direction/first codec per media section
	}{
		{"chromium simulcast", chromiumSimulcastOffer, []string{"video/0/sendonly/video/VP8", "audio/1/sendonly/audio/opus"}},
		{"gstreamer", gstreamerOffer, []string{"video/video0/sendonly/video/H264", "audio/audio1/sendonly/audio/OPUS"}},
		{"firefox-style session-level credentials", firefoxStyleOffer, []string{"video/0/recvonly/video/VP8", "audio/1/recvonly/audio/opus"}},
		{"LF line endings", strings.ReplaceAll(chromiumSimulcastOffer, "\r\n", "\n"), []string{"video/0/sendonly/video/VP8", "audio/1/sendonly/audio/opus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOffer(tt.offer)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range o.Media {
				got = append(got, m.Kind+"/"+m.Mid+"/"+m.Direction+"/"+m.Codecs[0].MimeType)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("media %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseOfferFirefoxRTX(t *testing.T) {
	o, err := parseOffer(firefoxStyleOffer)
	if err != nil {
		t.Fatal(err)
	}
	// Firefox writes fmtp before rtpmap and apt for formats defined later.
	want := map[uint8]uint8{120: 124, 121: 125, 126: 127, 97: 98}
	if !reflect.DeepEqual(o.Media[0].rtxFor, want) {
		t.Fatalf("rtxFor = %v, want %v", o.Media[0].rtxFor, want)
	}
	// rtcp-fb:* is skipped, not an error and not a codec's feedback.
	for _, c := range o.Media[0].Codecs {
		for _, fb := range c.Feedback {
			if strings.HasPrefix(fb, "*") {
				t.Fatalf("%s has feedback %q", c.MimeType, fb)
			}
		}
	}
}

func TestParseOffer(t *testing.T) {
	tests := []struct {
		name    string
		offer   string
		wantErr string // substring of the SDPError; empty for success
		check   func(t *testing.T, o *offer)
	}{
		{name: "video and audio", offer: minimalOffer(vp8Section, opusSection), check: func(t *testing.T, o *offer) {
			if len(o.Media) != 2 || o.Media[0].rtxFor[96] != 97 || len(o.Media[0].Codecs) != 1 {
				t.Fatalf("media %+v", o.Media)
			}
		}},
		{name: "sendonly", offer: minimalOffer(vp8Section), check: direction("sendonly")},
		{name: "recvonly", offer: minimalOffer(minimalSection("video", "0", "recvonly", "96", "a=rtpmap:96 VP8/90000")), check: direction("recvonly")},
		{name: "inactive", offer: minimalOffer(minimalSection("video", "0", "inactive", "96", "a=rtpmap:96 VP8/90000")), check: direction("inactive")},
		{name: "no direction means sendrecv", offer: minimalOffer(minimalSection("video", "0", "", "96", "a=rtpmap:96 VP8/90000")), check: direction("sendrecv")},
		{name: "data channel beside media is skipped", offer: minimalOffer(vp8Section, dataSection("2")), check: func(t *testing.T, o *offer) {
			if len(o.Media) != 1 || o.Media[0].Kind != "video" {
				t.Fatalf("media %+v", o.Media)
			}
		}},
		{name: "format without rtpmap is dropped", offer: minimalOffer(minimalSection("audio", "0", "sendonly", "111 0", "a=rtpmap:111 opus/48000/2")), check: func(t *testing.T, o *offer) {
			if len(o.Media[0].Codecs) != 1 {
				t.Fatalf("codecs %+v", o.Media[0].Codecs)
			}
		}},
		{name: "attributes of formats not in the m= line are ignored", offer: minimalOffer(minimalSection("video", "0", "sendonly", "96",
			"a=rtpmap:96 VP8/90000", "a=rtpmap:100 H264/90000", "a=fmtp:100 packetization-mode=1", "a=rtcp-fb:100 nack")), check: func(t *testing.T, o *offer) {
			if len(o.Media[0].Codecs) != 1 {
				t.Fatalf("codecs %+v", o.Media[0].Codecs)
			}
		}},
		{name: "rtx with a bad apt is not an rtx mapping", offer: minimalOffer(minimalSection("video", "0", "sendonly", "96 97",
			"a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=300")), check: func(t *testing.T, o *offer) {
			if len(o.Media[0].rtxFor) != 0 || len(o.Media[0].Codecs) != 1 {
				t.Fatalf("media %+v", o.Media[0])
			}
		}},
		{name: "payload type 0 and 127 are valid", offer: minimalOffer(minimalSection("audio", "0", "sendonly", "0 127",
			"a=rtpmap:0 PCMU/8000", "a=rtpmap:127 opus/48000/2")), check: func(t *testing.T, o *offer) {
			if len(o.Media[0].Codecs) != 2 {
				t.Fatalf("codecs %+v", o.Media[0].Codecs)
			}
		}},

		{name: "empty", offer: "", wantErr: "empty offer"},
		{name: "blank", offer: " \r\n\t", wantErr: "empty offer"},
		{name: "not SDP", offer: "hello world", wantErr: "bad SDP"},
		{name: "no media sections", offer: minimalOffer(), wantErr: "no media sections"},
		{name: "data channel only", offer: minimalOffer(dataSection("0")), wantErr: "no audio or video section"},
		{name: "missing fingerprint", offer: minimalOffer(without(vp8Section, "a=fingerprint:")), wantErr: "media section 0: no DTLS fingerprint"},
		{name: "missing fingerprint in second section", offer: minimalOffer(vp8Section, without(opusSection, "a=fingerprint:")), wantErr: "media section 1: no DTLS fingerprint"},
		{name: "missing ice-ufrag", offer: minimalOffer(without(vp8Section, "a=ice-ufrag:")), wantErr: "media section 0: no ICE ufrag"},
		{name: "bad payload type 128", offer: minimalOffer(minimalSection("video", "0", "sendonly", "96 128", "a=rtpmap:96 VP8/90000")), wantErr: `bad payload type "128"`},
		{name: "bad payload type word", offer: minimalOffer(minimalSection("video", "0", "sendonly", "vp8", "a=rtpmap:96 VP8/90000")), wantErr: `bad payload type "vp8"`},
		{name: "bad payload type negative", offer: minimalOffer(minimalSection("video", "0", "sendonly", "-1")), wantErr: "bad payload type"},
		{name: "bad rtpmap payload type", offer: minimalOffer(minimalSection("video", "0", "sendonly", "96", "a=rtpmap:x VP8/90000")), wantErr: "bad rtpmap"},
		{name: "rtpmap without clock rate", offer: minimalOffer(minimalSection("video", "0", "sendonly", "96", "a=rtpmap:96 VP8")), wantErr: "bad rtpmap"},
		{name: "rtpmap without name", offer: minimalOffer(minimalSection("video", "0", "sendonly", "96", "a=rtpmap:96 /90000")), wantErr: "bad rtpmap"},
		{name: "rtpmap bad channels", offer: minimalOffer(minimalSection("audio", "0", "sendonly", "111", "a=rtpmap:111 opus/48000/two")), wantErr: "bad rtpmap channels"},
		{name: "bad fmtp payload type", offer: minimalOffer(minimalSection("video", "0", "sendonly", "96", "a=rtpmap:96 VP8/90000", "a=fmtp:abc x=1")), wantErr: "bad fmtp"},
		{name: "unsupported media", offer: minimalOffer(minimalSection("text", "0", "sendonly", "96")), wantErr: `media section 0: unsupported media "text"`},
		{name: "too many m-sections", offer: minimalOffer(repeatSections(maxOfferMedia + 1)...), wantErr: "17 media sections (max 16)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOffer(tt.offer)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseOffer: %v", err)
				}
				tt.check(t, o)
				return
			}
			if err == nil {
				t.Fatalf("parseOffer succeeded, want error %q", tt.wantErr)
			}
			checkSDPError(t, err, math.MaxInt)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want one line containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseOfferMaxSections(t *testing.T) {
	if _, err := parseOffer(minimalOffer(repeatSections(maxOfferMedia)...)); err != nil {
		t.Fatalf("%d sections: %v", maxOfferMedia, err)
	}
}

func direction(want string) func(t *testing.T, o *offer) {
	return func(t *testing.T, o *offer) {
		t.Helper()
		if got := o.Media[0].Direction; got != want {
			t.Fatalf("direction %q, want %q", got, want)
		}
	}
}

func dataSection(mid string) string {
	return strings.Replace(minimalSection("application", mid, "", "webrtc-datachannel", "a=sctp-port:5000"),
		"UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", 1)
}

func without(section, prefix string) string {
	var keep []string
	for _, line := range strings.SplitAfter(section, "\n") {
		if !strings.HasPrefix(line, prefix) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

func repeatSections(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = minimalSection("audio", fmt.Sprint(i), "sendonly", "111", "a=rtpmap:111 opus/48000/2")
	}
	return out
}

// --- codec choice (codecs.go): what a publisher may send, what a viewer gets, 406 content ---

func pionOffer(tb testing.TB, dir webrtc.RTPTransceiverDirection) string {
	tb.Helper()
	return testkit.PionOffer(tb, dir, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
}

func TestParseOfferPion(t *testing.T) {
	for _, dir := range []webrtc.RTPTransceiverDirection{webrtc.RTPTransceiverDirectionSendonly, webrtc.RTPTransceiverDirectionRecvonly} {
		t.Run(dir.String(), func(t *testing.T) {
			o, err := parseOffer(pionOffer(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Media) != 2 || o.Media[0].Kind != "video" || o.Media[1].Kind != "audio" {
				t.Fatalf("media %+v", o.Media)
			}
			for _, m := range o.Media {
				if m.Direction != dir.String() {
					t.Errorf("%s direction %q, want %q", m.Kind, m.Direction, dir)
				}
				if _, err := publisherCodecs(m); err != nil {
					t.Errorf("%s: %v", m.Kind, err)
				}
			}
			if len(o.Media[0].rtxFor) == 0 {
				t.Error("pion's video rtx formats were not mapped")
			}
		})
	}
}

// checkSDPError fails t unless err is an *SDPError (answered 400) of one line of at most
// maxLen bytes.
func checkSDPError(t *testing.T, err error, maxLen int) {
	t.Helper()
	var sdpErr *SDPError
	if !errors.As(err, &sdpErr) {
		t.Fatalf("error %v is %T, want *SDPError (answered 400)", err, err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > maxLen {
		t.Fatalf("error is not one line of at most %d bytes: %q", maxLen, msg)
	}
}
