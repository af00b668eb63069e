package hls

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

func TestDeltaUpdate(t *testing.T) {
	cfg := testCfg
	cfg.Window = 10 // 20 s listed, more than CAN-SKIP-UNTIL's 12 s
	s, sv, f := newTestStream(t, cfg, "hi", AudioRendition)
	f.feedUntil(25*time.Second + 500*time.Millisecond)
	for _, r := range []string{"hi", AudioRendition} {
		full := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		for _, skip := range []string{"YES", "v2"} {
			delta := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8?_HLS_skip="+skip))
			if delta.version != 9 || delta.skipped == 0 || delta.mediaSeq != full.mediaSeq || delta.discSeq != full.discSeq {
				t.Fatalf("%s skip=%s: version %d, skipped %d, sequence %d/%d (full %d/%d)", r, skip, delta.version,
					delta.skipped, delta.mediaSeq, delta.discSeq, full.mediaSeq, full.discSeq)
			}
			if len(delta.segments)+delta.skipped != len(full.segments) {
				t.Fatalf("%s: %d skipped + %d listed != %d", r, delta.skipped, len(delta.segments), len(full.segments))
			}
			var fromEnd float64 // what a delta update keeps must reach back CAN-SKIP-UNTIL from the end
			for _, seg := range full.segments[delta.skipped:] {
				fromEnd += seg.dur
			}
			for _, p := range full.segments[len(full.segments)-1].parts {
				fromEnd += p.dur
			}
			if until := atof(t, full.control["CAN-SKIP-UNTIL"]); fromEnd < until || fromEnd-full.segments[delta.skipped].dur >= until {
				t.Errorf("%s: delta keeps %.3fs, CAN-SKIP-UNTIL %v", r, fromEnd, until)
			}
			for i, seg := range delta.segments {
				want := full.segments[delta.skipped+i]
				if seg.msn != want.msn || seg.uri != want.uri || len(seg.parts) != len(want.parts) {
					t.Fatalf("%s: delta segment %d is %+v, full playlist has %+v", r, i, seg, want)
				}
			}
			if delta.segments[0].mapURI == "" {
				t.Errorf("%s: no EXT-X-MAP after EXT-X-SKIP", r)
			}
		}
	}
	s.Close() // _HLS_skip is ignored once the playlist has ended
	if pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8?_HLS_skip=YES")); pl.skipped != 0 || !pl.endlist {
		t.Errorf("ended playlist: skipped %d, endlist %v", pl.skipped, pl.endlist)
	}
	if pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8?_HLS_msn=999999999999&_HLS_part=1")); !pl.endlist {
		t.Error("ended playlist: _HLS_msn not ignored")
	}
}

func TestMultivariantPlaylist(t *testing.T) {
	cases := []struct {
		name       string
		renditions []string
		want       []string
	}{
		{"two renditions and audio", []string{"hi", "lo", AudioRendition}, []string{
			`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="a/index.m3u8"`,
			`CODECS="avc1.42c00d,mp4a.40.2",RESOLUTION=320x240,FRAME-RATE=30.000,AUDIO="aac"` + "\nhi/index.m3u8",
			`CODECS="avc1.42c00b,mp4a.40.2",RESOLUTION=160x120,FRAME-RATE=30.000,AUDIO="aac"` + "\nlo/index.m3u8",
		}},
		{"video only", []string{"hi"}, []string{`CODECS="avc1.42c00d",RESOLUTION=320x240,FRAME-RATE=30.000` + "\nhi/index.m3u8"}},
		{"audio only", []string{AudioRendition}, []string{`CODECS="mp4a.40.2"` + "\na/index.m3u8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, sv, f := newTestStream(t, testCfg, tc.renditions...)
			done := asyncGet(sv, "/hls/room1/index.m3u8") // waits for every rendition's first segment
			f.feedUntil(4500 * time.Millisecond)
			rec := <-done
			body := rec.Body.String()
			if rec.Code != 200 || !strings.HasPrefix(body, "#EXTM3U\n") {
				t.Fatalf("%d:\n%s", rec.Code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("missing %q in:\n%s", w, body)
				}
			}
			for _, line := range strings.Split(body, "\n") {
				if a := attrs(strings.TrimPrefix(line, "#EXT-X-STREAM-INF:")); strings.HasPrefix(line, "#EXT-X-STREAM-INF:") {
					peak, avg := atoi(t, a["BANDWIDTH"]), atoi(t, a["AVERAGE-BANDWIDTH"])
					if avg <= 1000 || peak < avg || peak > 10_000_000 {
						t.Errorf("BANDWIDTH %d, AVERAGE-BANDWIDTH %d", peak, avg)
					}
				}
			}
		})
	}
}

// TestMultivariantSilentTrack: a rendition that gets no samples does not hold up the
// multivariant playlist longer than two segment durations, and is left out of it.
func TestMultivariantSilentTrack(t *testing.T) {
	cfg := Config{SegmentDuration: time.Second, PartDuration: 250 * time.Millisecond, Window: 4}
	s, sv, f := newTestStream(t, cfg, "hi")
	if _, err := s.AddVideo("silent", f.m.vinfo["lo"]); err != nil {
		t.Fatal(err)
	}
	f.feedUntil(2500 * time.Millisecond)
	start := time.Now()
	body := mustGet(t, sv, "/hls/room1/index.m3u8")
	if took := time.Since(start); took >= s.cfg.BlockTimeout {
		t.Errorf("multivariant took %v, block timeout %v", took, s.cfg.BlockTimeout)
	}
	if !strings.Contains(body, "hi/index.m3u8") || strings.Contains(body, "silent") {
		t.Errorf("multivariant with a silent rendition:\n%s", body)
	}
}

func TestHTTP(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	f.feedUntil(4500 * time.Millisecond)
	pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	seg, part := pl.segments[0].uri, pl.segments[len(pl.segments)-1].parts[0].uri
	cases := []struct {
		method, url, encoding string
		code                  int
		ctype, cache          string
	}{
		{"GET", "/hls/room1/index.m3u8", "", 200, playlistType, "public, max-age=1"},
		{"GET", "/hls/room1/hi/index.m3u8", "gzip, deflate", 200, playlistType, "public, max-age=1"},
		{"HEAD", "/hls/room1/a/index.m3u8", "", 200, playlistType, "public, max-age=1"},
		{"GET", "/hls/room1/hi/" + pl.segments[0].mapURI, "", 200, "video/mp4", cacheImmutable},
		{"GET", "/hls/room1/a/" + pl.segments[0].mapURI, "", 200, "audio/mp4", cacheImmutable},
		{"GET", "/hls/room1/hi/" + seg, "gzip", 200, "video/iso.segment", cacheImmutable},
		{"GET", "/hls/room1/hi/" + part, "", 200, "video/iso.segment", cacheImmutable},
		{"GET", "/hls/room2/index.m3u8", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"GET", "/hls/room1/720p/index.m3u8", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"GET", "/hls/room1/hi/seg1.m4s", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"GET", "/hls/room1/hi/init7.mp4", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"GET", "/hls/room1/hi/part1.x.m4s", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"GET", "/hls/room1/hi/../../etc/passwd", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"GET", "/hls/room1/hi/x/index.m3u8", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"GET", "/other/room1/index.m3u8", "", 404, "text/plain; charset=utf-8", "no-store"},
		{"POST", "/hls/room1/index.m3u8", "", 405, "text/plain; charset=utf-8", "no-store"},
		{"OPTIONS", "/hls/room1/index.m3u8", "", 204, "", ""},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, tc.url, nil)
		if tc.encoding != "" {
			req.Header.Set("Accept-Encoding", tc.encoding)
		}
		rec := httptest.NewRecorder()
		sv.ServeHTTP(rec, req)
		h := rec.Header()
		if rec.Code != tc.code || h.Get("Content-Type") != tc.ctype || h.Get("Cache-Control") != tc.cache ||
			h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: %d %q %q CORS %q; want %d %q %q", tc.method, tc.url, rec.Code, h.Get("Content-Type"),
				h.Get("Cache-Control"), h.Get("Access-Control-Allow-Origin"), tc.code, tc.ctype, tc.cache)
		}
		body := rec.Body.Bytes()
		if tc.method == "HEAD" && len(body) != 0 {
			t.Errorf("HEAD %s: %d bytes of body", tc.url, len(body))
		}
		gzipped := h.Get("Content-Encoding") == "gzip"
		if wantGzip := tc.encoding != "" && tc.ctype == playlistType; gzipped != wantGzip {
			t.Errorf("%s with Accept-Encoding %q: Content-Encoding %q", tc.url, tc.encoding, h.Get("Content-Encoding"))
		}
		if gzipped {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if text, _ := io.ReadAll(zr); !bytes.HasPrefix(text, []byte("#EXTM3U")) || h.Get("Vary") != "Accept-Encoding" {
				t.Errorf("gzip playlist: %q, Vary %q", text[:min(len(text), 20)], h.Get("Vary"))
			}
		}
	}
	// A range request for part of a segment (players and CDNs use them).
	req := httptest.NewRequest("GET", "/hls/room1/hi/"+seg, nil)
	req.Header.Set("Range", "bytes=0-7")
	rec := httptest.NewRecorder()
	sv.ServeHTTP(rec, req)
	if rec.Code != http.StatusPartialContent || rec.Body.Len() != 8 {
		t.Errorf("range request: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	sv.Remove("room1")
	if rec := get(sv, "/hls/room1/hi/index.m3u8"); rec.Code != 404 {
		t.Errorf("removed room: %d", rec.Code)
	}
	_ = s
}

func TestInitSegments(t *testing.T) {
	m := loadMedia(t)
	s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	f.feedUntil(2500 * time.Millisecond)
	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		file, err := mp4.DecodeFile(strings.NewReader(mustGet(t, sv, "/hls/room1/"+r+"/"+pl.segments[0].mapURI)))
		if err != nil || file.Init == nil {
			t.Fatalf("%s init: %v", r, err)
		}
		trak := file.Init.Moov.Trak
		stsd := trak.Mdia.Minf.Stbl.Stsd
		if r == AudioRendition {
			if stsd.Mp4a == nil || !bytes.Equal(stsd.Mp4a.Esds.DecConfigDescriptor.DecSpecificInfo.DecConfig, m.ainfo.ASC) ||
				trak.Mdia.Mdhd.Timescale != 48000 || stsd.Mp4a.ChannelCount != 2 {
				t.Errorf("audio init: mp4a %+v, timescale %d", stsd.Mp4a, trak.Mdia.Mdhd.Timescale)
			}
			continue
		}
		if stsd.AvcX == nil || stsd.AvcX.Type() != "avc1" || !bytes.Equal(stsd.AvcX.AvcC.SPSnalus[0], m.vinfo["hi"].SPS) ||
			!bytes.Equal(stsd.AvcX.AvcC.PPSnalus[0], m.vinfo["hi"].PPS) || stsd.AvcX.Width != 320 || stsd.AvcX.Height != 240 {
			t.Errorf("video init: %+v", stsd.AvcX)
		}
	}
	_ = s
}
