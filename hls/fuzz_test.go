package hls

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// FuzzServeHTTP sends arbitrary paths and queries: every answer is a known status, never
// a panic or a hang (blocking is bounded by a short BlockTimeout here).
func FuzzServeHTTP(f *testing.F) {
	for _, seed := range []string{
		"/hls/room1/index.m3u8", "/hls/room1/hi/index.m3u8?_HLS_msn=1&_HLS_part=2", "/hls/room1/a/index.m3u8?_HLS_skip=v2",
		"/hls/room1/hi/part1.2.m4s", "/hls/room1/hi/seg3.m4s", "/hls/room1/hi/init0.mp4", "/hls/room1/hi/index.m3u8?_HLS_part=1",
		"/hls/room1/hi/part18446744073709551615.65535.m4s", "/hls//hi/index.m3u8", "/hls/room1/hi/index.m3u8?_HLS_msn=%ff",
	} {
		f.Add(seed)
	}
	cfg := testCfg
	cfg.BlockTimeout = 5 * time.Millisecond
	s, sv, feed := newTestStream(f, cfg, "hi", AudioRendition)
	feed.feedUntil(2500 * time.Millisecond)
	tr := s.track("hi")
	tr.mu.Lock()
	edge := tr.cur.msn
	tr.mu.Unlock()
	f.Add("/hls/room1/hi/index.m3u8?_HLS_msn=" + strconv.FormatUint(edge, 10) + "&_HLS_part=0")
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Host != "" {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		rec := httptest.NewRecorder()
		sv.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 206, 400, 404, 503:
		default:
			t.Fatalf("%s: status %d", target, rec.Code)
		}
		if rec.Code == 200 && rec.Body.Len() == 0 {
			t.Fatalf("%s: empty 200", target)
		}
	})
}

// FuzzWriteSample writes arbitrary bytes as video and audio samples between real ones: a
// bad sample is refused or packaged, and the stream keeps producing valid output.
func FuzzWriteSample(f *testing.F) {
	m := loadMedia(f)
	f.Add(m.video["hi"][1].Data, false, int64(40))
	f.Add(m.video["hi"][0].Data[:30], true, int64(0))
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42}, true, int64(-5))
	f.Add([]byte{0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 9}, true, int64(1<<40))
	f.Add([]byte{0, 0, 1, 0x68}, false, int64(33))
	f.Fuzz(func(t *testing.T, data []byte, key bool, dtsMillis int64) {
		s := NewStream("fuzz", testCfg, testLogger())
		defer s.Close()
		v, err := s.AddVideo("hi", m.vinfo["hi"])
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.AddAudio(m.ainfo)
		if err != nil {
			t.Fatal(err)
		}
		write := func(n int) {
			for _, smp := range m.video["hi"][:n] {
				_ = v.WriteSample(smp)
			}
			for _, smp := range m.audio[:n*3/2] {
				_ = a.WriteSample(smp)
			}
		}
		write(30)
		dts := time.Duration(dtsMillis) * time.Millisecond
		_ = v.WriteSample(Sample{Data: data, DTS: dts, PTS: dts, Keyframe: key})
		_ = a.WriteSample(Sample{Data: data, DTS: dts, PTS: dts})
		write(70)
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, seg := range append(v.segs, v.cur) {
			if seg == nil {
				continue
			}
			for _, p := range seg.parts {
				if len(p.data) == 0 || p.ticks == 0 || p.ticks > v.partTicks {
					t.Fatalf("bad part in segment %d: %d bytes, %d ticks", seg.msn, len(p.data), p.ticks)
				}
			}
		}
	})
}
