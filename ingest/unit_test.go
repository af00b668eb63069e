package ingest

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"github.com/glint-video/glint/auth"
)

func parseURLForFuzz(s string) (*url.URL, error) { return url.Parse("rtmp://h" + s) }

func TestRTMPTarget(t *testing.T) {
	checkTargets(t, func(path string) (string, string, error) {
		u, _ := parseURLForFuzz(path)
		return rtmpTarget(u)
	}, []targetCase{
		{"/live/cam?key=K", "cam", "K", ""},
		{"/live/cam/K", "cam", "K", ""},
		{"/cam/cam", "cam", "", ""}, // rtmp://host/cam: ffmpeg uses the room as app and stream name
		{"/app/room-1_x", "room-1_x", "", ""},
		{"/live", "", "", "want /{app}/{room}"},
		{"/a/b/c/d", "", "", "want /{app}/{room}"},
		{"/live/a.b", "", "", "room \"a.b\""},
		{"/live/cam/K?key=X", "", "", "both in the path"},
		{"/live/" + strings.Repeat("r", 65), "", "", "1-64 characters"},
	})
}

func TestSRTTarget(t *testing.T) {
	checkTargets(t, srtTarget, []targetCase{
		{"publish:cam", "cam", "", ""},
		{"publish:cam/K", "cam", "K", ""},
		{"#!::r=cam,m=publish", "cam", "", ""},
		{"#!::m=publish,r=cam,s=K", "cam", "K", ""},
		{"#!::r=cam,m=publish,key=K", "cam", "K", ""},
		{"%23!::r=cam,m=publish", "cam", "", ""},
		{"#!::r=cam", "", "", "only m=publish"},
		{"#!::r=cam,m=request", "", "", "only m=publish"},
		{"read:cam", "", "", "want publish:{room}"},
		{"", "", "", "want publish:{room}"},
		{"publish:", "", "", "room \"\""},
	})
}

// targetCase is a stream name and what it must give: room and key, or an ErrBadStreamName
// whose text contains err.
type targetCase struct{ name, room, key, err string }

// checkTargets checks parse (rtmpTarget or srtTarget) on each case.
func checkTargets(t *testing.T, parse func(name string) (room, key string, err error), cases []targetCase) {
	t.Helper()
	for _, tc := range cases {
		room, key, err := parse(tc.name)
		if tc.err != "" {
			if !errors.Is(err, ErrBadStreamName) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || room != tc.room || key != tc.key {
			t.Errorf("%q: %q %q %v, want %q %q", tc.name, room, key, err, tc.room, tc.key)
		}
	}
}

func TestAuthorize(t *testing.T) {
	for _, tc := range []struct {
		keys      map[string]string
		room, key string
		ok        bool
	}{
		{nil, "any", "", true},
		{map[string]string{"cam": "k", "*": "w"}, "cam", "k", true},
		{map[string]string{"cam": "k", "*": "w"}, "cam", "w", false},
		{map[string]string{"cam": "k", "*": "w"}, "other", "w", true},
		{map[string]string{"cam": "k", "*": "w"}, "other", "k", false},
		{map[string]string{"cam": "k"}, "other", "k", false},
		{map[string]string{"cam": "k"}, "cam", "", false},
	} {
		a, err := auth.New(auth.Options{StreamKeys: tc.keys})
		if err != nil {
			t.Fatal(err)
		}
		err = (&Server{cfg: Config{Auth: a}}).authorize("rtmp", "127.0.0.1:5000", tc.room, tc.key)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrBadKey) {
			t.Errorf("keys %v, %s/%q: %v, want ok=%v", tc.keys, tc.room, tc.key, err, tc.ok)
		}
	}
}

func TestClockJumps(t *testing.T) {
	var c clock
	for _, step := range []struct{ in, want int64 }{
		{900000, 0}, {903000, 3000}, {901500, 1500}, // start, forward, a little back (B-frames, interleaving)
		{906000, 6000},
		{906000 + 20*90000, 6000 + jumpStep}, // 20 s forward: rebased
		{906000 + 20*90000 + 3000, 6000 + jumpStep + 3000},
		{100, 9000 + jumpStep*2}, // far back (encoder restart): rebased after the last
		{3100, 12000 + jumpStep*2},
	} {
		if got := c.dts(step.in); got != step.want {
			t.Fatalf("dts(%d) = %d, want %d", step.in, got, step.want)
		}
	}
	if c.jumps != 2 {
		t.Errorf("%d jumps, want 2", c.jumps)
	}
}

func TestFLVTimestampWrap(t *testing.T) {
	var u msUnwrapper
	start := u.ticks(time.Duration(0xFFFFFFF0) * time.Millisecond)
	if got := u.ticks(time.Duration(0x10)*time.Millisecond) - start; got != 32*90 {
		t.Errorf("across the 32-bit wrap: %d ticks, want %d", got, 32*90)
	}
	if got := u.ticks(time.Duration(0x08)*time.Millisecond) - start; got != 24*90 {
		t.Errorf("a little back after the wrap: %d ticks, want %d", got, 24*90)
	}
	var ff msUnwrapper // ffmpeg: 31 bits
	start = ff.ticks(time.Duration(1<<31-10) * time.Millisecond)
	if got := ff.ticks(5*time.Millisecond) - start; got != 15*90 {
		t.Errorf("across the 31-bit wrap: %d ticks, want %d", got, 15*90)
	}
	var up msUnwrapper // crossing 2^31 in a 32-bit stream is no wrap
	start = up.ticks(time.Duration(1<<31-10) * time.Millisecond)
	if got := up.ticks(time.Duration(1<<31+10)*time.Millisecond) - start; got != 20*90 {
		t.Errorf("across 2^31: %d ticks, want %d", got, 20*90)
	}
}

func TestTSTimestampWrap(t *testing.T) {
	var u tsUnwrapper
	const max33 = 1 << 33
	p0, d0 := u.times(max33-3000, max33-6000)
	if p0-d0 != 3000 {
		t.Fatalf("pts-dts = %d, want 3000", p0-d0)
	}
	p1, d1 := u.times(1500, max33-3000) // PTS has wrapped, DTS not yet
	if d1-d0 != 3000 || p1-d1 != 4500 {
		t.Errorf("dts step %d (want 3000), pts-dts %d (want 4500)", d1-d0, p1-d1)
	}
	_, d2 := u.times(3000, 1000) // both wrapped
	if d2-d0 != 7000 {
		t.Errorf("dts after the wrap %d, want 7000", d2-d0)
	}
}

func TestPacketizeH264(t *testing.T) {
	big := make([]byte, 3000)
	big[0] = 0x65 // IDR, NRI 3
	for i := 1; i < len(big); i++ {
		big[i] = byte(i)
	}
	au := [][]byte{{0x09, 0xf0}, {0x06, 1, 2}, big}
	var p h264Params
	p.update([][]byte{{0x67, 0x42, 0xc0, 0x0d}, {0x68, 0xce}})
	nalus, idr := p.forRTP(au)
	if !idr || len(nalus) != 4 || nalus[0][0] != 0x67 || nalus[1][0] != 0x68 || nalus[2][0] != 0x06 {
		t.Fatalf("forRTP: idr %v, %d NAL units, want SPS PPS SEI IDR without the AUD", idr, len(nalus))
	}
	var payloads [][]byte
	var markers []bool
	video := newRTPSender("video", videoPT, nil)
	if err := video.h264.Packetize(nalus, func(b []byte, last bool) error {
		payloads = append(payloads, append([]byte(nil), b...))
		markers = append(markers, last)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(payloads) != 3+3 {
		t.Fatalf("%d packets, want 3 single NAL units and 3 FU-A", len(payloads))
	}
	depack := &codecs.H264Packet{}
	var out []byte
	for i, b := range payloads {
		if len(b) > rtpMTU-rtpHeaderSize {
			t.Errorf("payload %d is %d bytes", i, len(b))
		}
		if markers[i] != (i == len(payloads)-1) {
			t.Errorf("payload %d marker %v", i, markers[i])
		}
		got, err := depack.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	if !bytes.HasSuffix(out, append([]byte{0, 0, 0, 1}, big...)) {
		t.Error("FU-A fragments do not reassemble to the IDR")
	}
	if nalus, idr := p.forRTP([][]byte{{0x41, 1}}); idr || len(nalus) != 1 {
		t.Errorf("a P frame got %d NAL units (idr %v)", len(nalus), idr)
	}
}

func TestH264Codec(t *testing.T) {
	c := h264Codec([]byte{0x67, 0x64, 0x00, 0x1f})
	if c.SDPFmtpLine != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f" || c.PayloadType != 96 || c.ClockRate != 90000 {
		t.Errorf("codec %+v", c)
	}
	if c := h264Codec(nil); !strings.HasSuffix(c.SDPFmtpLine, "42e01f") {
		t.Errorf("re-encoded codec %s", c.SDPFmtpLine)
	}
}
