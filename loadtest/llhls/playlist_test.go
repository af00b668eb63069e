package llhls

import (
	"strings"
	"testing"
	"time"
)

const multivariant = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="audio",DEFAULT=YES,URI="a/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=640x360,AUDIO="aac"
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2800000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="aac"
source/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=426x240,AUDIO="aac"
240p/index.m3u8
`

func TestPickVariant(t *testing.T) {
	cases := []struct {
		name, body, rendition string
		multi                 bool
		want, err             string
	}{
		{"highest bandwidth", multivariant, "", true, "source/index.m3u8", ""},
		{"by name", multivariant, "240p", true, "240p/index.m3u8", ""},
		{"unknown rendition", multivariant, "1080p", true, "", "no variant matches"},
		{"media playlist", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n", "", false, "", ""},
		{"not a playlist", "<html>", "", false, "", "not an HLS playlist"},
		{"no variants", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", "", true, "", "without variants"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs, multi, err := parseMultivariant([]byte(tc.body))
			if err == nil && multi {
				var v variant
				v, err = pickVariant(vs, tc.rendition)
				if err == nil && v.uri != tc.want {
					t.Errorf("picked %q, want %q", v.uri, tc.want)
				}
			}
			if multi != tc.multi {
				t.Errorf("multivariant %v, want %v", multi, tc.multi)
			}
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// livePlaylist is Glint's media playlist shape: two complete segments with parts and one
// in progress; keyframes start each segment and part 3 of segment 11.
const livePlaylist = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12,PART-HOLD-BACK=1.01,HOLD-BACK=6
#EXT-X-PART-INF:PART-TARGET=0.34
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-MAP:URI="init10.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:00.000Z
#EXTINF:2.00000,
seg10.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:02.000Z
#EXT-X-PART:DURATION=0.33333,URI="part11.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33333,URI="part11.1.m4s"
#EXT-X-PART:DURATION=0.33333,URI="part11.2.m4s"
#EXT-X-PART:DURATION=0.33333,URI="part11.3.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33333,URI="part11.4.m4s"
#EXT-X-PART:DURATION=0.33333,URI="part11.5.m4s"
#EXTINF:2.00000,
seg11.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init12.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:04.000Z
#EXT-X-PART:DURATION=0.33333,URI="part12.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33333,URI="part12.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part12.2.m4s"
#EXT-X-RENDITION-REPORT:URI="../a/index.m3u8",LAST-MSN=12,LAST-PART=1
`

func TestParseMedia(t *testing.T) {
	pl, err := parseMedia([]byte(livePlaylist))
	if err != nil {
		t.Fatal(err)
	}
	if !pl.canBlock || pl.partHoldBack != 1010*time.Millisecond || pl.partTarget != 340*time.Millisecond ||
		pl.hint != "part12.2.m4s" || pl.endList {
		t.Errorf("playlist attributes: %+v", pl)
	}
	if len(pl.segments) != 3 {
		t.Fatalf("%d segments, want 3", len(pl.segments))
	}
	s := pl.find(12)
	if s == nil || s.uri != "" || !s.disc || s.mapURI != "init12.mp4" || len(s.parts) != 2 ||
		s.parts[1].offset != 333330*time.Microsecond || s.pdt.Format(time.TimeOnly) != "10:00:04" {
		t.Errorf("segment in progress: %+v", s)
	}
	if s := pl.find(10); s == nil || s.uri != "seg10.m4s" || s.mapURI != "init10.mp4" || s.duration != 2*time.Second {
		t.Errorf("segment 10: %+v", s)
	}
	if pl.find(9) != nil || pl.find(13) != nil {
		t.Error("find outside the playlist")
	}
}

func TestJoinPoint(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		msn      uint64
		idx      int
		holdBack string
	}{
		// The end is 4.667 s in: part 11.3 starts 2.667 s before it, 12.0 only 0.667 s.
		{"keyframe within PART-HOLD-BACK of the edge is skipped", livePlaylist, 11, 3, ""},
		{"keyframe just old enough", livePlaylist, 12, 0, "PART-HOLD-BACK=0.6"},
		{"all keyframes too recent: the earliest listed", livePlaylist, 11, 0, "PART-HOLD-BACK=9"},
		{"no parts: the last complete segment", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n", 6, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if tc.holdBack != "" {
				body = strings.Replace(body, "PART-HOLD-BACK=1.01", tc.holdBack, 1)
			}
			pl, err := parseMedia([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			msn, idx, ok := pl.joinPoint()
			if !ok || msn != tc.msn || idx != tc.idx {
				t.Errorf("join at %d.%d (%v), want %d.%d", msn, idx, ok, tc.msn, tc.idx)
			}
		})
	}
}

func TestAttributes(t *testing.T) {
	got := attributes(`TYPE=PART,URI="a,b.m4s",BYTERANGE-START=100,NAME="x"`)
	want := map[string]string{"TYPE": "PART", "URI": "a,b.m4s", "BYTERANGE-START": "100", "NAME": "x"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
