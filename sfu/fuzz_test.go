package sfu

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// The corpora under testdata/fuzz/ hold whole offers of real clients (Chromium simulcast
// with rtx, pion publisher and viewer, GStreamer webrtcbin, Firefox-style) and trickle
// fragments; the seeds below add offers of the pion version in go.mod and the edge cases of
// the table tests.

func FuzzParseOffer(f *testing.F) {
	for _, s := range []string{
		pionOffer(f, webrtc.RTPTransceiverDirectionSendonly), pionOffer(f, webrtc.RTPTransceiverDirectionRecvonly),
		minimalOffer(vp8Section, opusSection), minimalOffer(vp8Section, dataSection("1")),
		minimalOffer(without(vp8Section, "a=fingerprint:")), minimalOffer(repeatSections(maxOfferMedia + 1)...),
		minimalOffer(minimalSection("video", "0", "sendonly", "96 97", "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", "a=rtcp-fb:* nack")),
		"", "v=0\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := parseOffer(raw)
		if err != nil {
			checkSDPError(t, err, math.MaxInt)
			return
		}
		if len(o.Media) == 0 || len(o.Media) > maxOfferMedia {
			t.Fatalf("%d media accepted", len(o.Media))
		}
		for _, m := range o.Media {
			checkOfferedMedia(t, m)
		}
	})
}

// checkOfferedMedia checks what parseOffer promises its callers, and that codec choice on
// the result answers without panicking.
func checkOfferedMedia(t *testing.T, m offeredMedia) {
	t.Helper()
	if m.Kind != "audio" && m.Kind != "video" {
		t.Fatalf("kind %q", m.Kind)
	}
	switch m.Direction {
	case "sendonly", "recvonly", "sendrecv", "inactive":
	default:
		t.Fatalf("direction %q", m.Direction)
	}
	for _, c := range m.Codecs {
		if c.PayloadType > 127 {
			t.Fatalf("payload type %d", c.PayloadType)
		}
		if !strings.HasPrefix(c.MimeType, m.Kind+"/") || len(c.MimeType) == len(m.Kind)+1 {
			t.Fatalf("codec %q in a %s section", c.MimeType, m.Kind)
		}
		if strings.EqualFold(c.MimeType, m.Kind+"/rtx") {
			t.Fatalf("rtx format %d listed as a codec", c.PayloadType)
		}
	}
	for apt, rtx := range m.rtxFor {
		if apt > 127 || rtx > 127 {
			t.Fatalf("rtx mapping %d → %d", apt, rtx)
		}
	}
	if _, err := publisherCodecs(m); err != nil {
		var ce *CodecError
		if !errors.As(err, &ce) {
			t.Fatalf("publisherCodecs error %T", err)
		}
	}
	room := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "packetization-mode=1;profile-level-id=42e01f",
	}}
	if m.Kind == "audio" {
		room.MimeType, room.ClockRate, room.SDPFmtpLine = webrtc.MimeTypeOpus, 48000, ""
	}
	_, _ = chooseViewerCodec(m, room)
}

func FuzzParseSDPFrag(f *testing.F) {
	for _, s := range []string{
		rfc9725Frag,
		"a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n",
		"a=ice-ufrag:newu\r\na=ice-pwd:newpassword0123456789ab\r\na=end-of-candidates\r\n",
		"a=ice-ufrag:u1\r\n",
		strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", maxFragCandidates+1),
		"a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-options:trickle\r\n",
		"c=IN IP4 0.0.0.0\r\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fr, err := parseSDPFrag(body)
		if err != nil {
			// The client's line is quoted and cut to 60 characters; a quoted non-printable
			// rune takes at most 10 bytes.
			checkSDPError(t, err, 100+60*10)
			return
		}
		if len(fr.candidates) > maxFragCandidates {
			t.Fatalf("%d candidates accepted", len(fr.candidates))
		}
		if (fr.ufrag == "") != (fr.pwd == "") {
			t.Fatalf("ufrag %q pwd %q: only one set", fr.ufrag, fr.pwd)
		}
		for _, c := range fr.candidates {
			if !strings.HasPrefix(c, "candidate:") || strings.ContainsAny(c, "\n") {
				t.Fatalf("candidate %q", c)
			}
		}
		for _, v := range []string{fr.ufrag, fr.pwd, fr.mid} {
			if strings.Contains(v, "\n") {
				t.Fatalf("value %q spans lines", v)
			}
		}
	})
}
