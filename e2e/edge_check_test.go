package e2e

import (
	"strings"
	"testing"
)

const edgeTestPlaylist = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-MAP:URI="init10.mp4"
#EXTINF:2.00000,
seg10.m4s
#EXT-X-PART:DURATION=0.33333,URI="part11.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33333,URI="part11.1.m4s"
#EXT-X-PART:DURATION=0.33333,URI="part11.2.m4s"
#EXTINF:1.00000,
seg11.m4s
#EXT-X-PART:DURATION=0.33333,URI="part12.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part12.1.m4s"
#EXT-X-RENDITION-REPORT:URI="../a/index.m3u8",LAST-MSN=12,LAST-PART=0
`

func TestParseMediaList(t *testing.T) {
	l, err := parseMediaList(edgeTestPlaylist)
	if err != nil {
		t.Fatal(err)
	}
	want := []partID{{11, 0}, {11, 1}, {11, 2}, {12, 0}}
	if len(l.parts) != len(want) {
		t.Fatalf("parts %v, want %v", l.parts, want)
	}
	for i := range want {
		if l.parts[i] != want[i] {
			t.Fatalf("parts %v, want %v", l.parts, want)
		}
	}
	if l.hint != (partID{12, 1}) || len(l.segLen) != 1 || l.segLen[11] != 3 {
		t.Errorf("hint %v, segment lengths %v; want 12.1 and map[11:3]", l.hint, l.segLen)
	}
	for _, bad := range []string{"", "<html>", strings.Replace(edgeTestPlaylist, "#EXT-X-PRELOAD-HINT", "#X", 1)} {
		if _, err := parseMediaList(bad); err == nil {
			t.Errorf("parseMediaList(%.20q) accepted", bad)
		}
	}
}

func TestCheckEveryPart(t *testing.T) {
	poller := func(sum string, ids ...partID) *hlsPoller {
		p := newHLSPoller("", nil)
		p.segLen[11] = 3
		for _, id := range ids {
			p.parts[id] = sum
		}
		return p
	}
	all := []partID{{11, 1}, {11, 2}, {12, 0}, {12, 1}}
	for _, tc := range []struct {
		name    string
		pollers []*hlsPoller
		window  int
		err     string
	}{
		{"same parts", []*hlsPoller{poller("x", all...), poller("x", all...)}, 4, ""},
		{"late starter: window is the common stretch", []*hlsPoller{poller("x", all...), poller("x", all[2:]...)}, 2, ""},
		{"one poller missed a part", []*hlsPoller{poller("x", all...), poller("x", all[0], all[1], all[3])}, 0, "missed 1 of 4"},
		{"nobody got a part", []*hlsPoller{poller("x", all[0], all[2], all[3]), poller("x", all[0], all[2], all[3])}, 0, "between 11.1 and 12.0"},
		{"different bytes", []*hlsPoller{poller("x", all...), poller("y", all...)}, 0, "other bytes"},
		{"no parts", []*hlsPoller{poller("x", all...), poller("x")}, 0, "got no part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := checkEveryPart(tc.pollers)
			if tc.err == "" && (err != nil || n != tc.window) {
				t.Fatalf("window %d, %v; want %d parts, no error", n, err, tc.window)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}
