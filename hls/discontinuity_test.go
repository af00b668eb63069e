package hls

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// discontinuities returns the msn of every segment a playlist marks with
// EXT-X-DISCONTINUITY, and checks that each starts with an EXT-X-MAP.
func discontinuities(t *testing.T, pl *mediaPL) []uint64 {
	t.Helper()
	var out []uint64
	for _, seg := range pl.segments {
		if seg.disc {
			out = append(out, seg.msn)
			if seg.mapURI == "" {
				t.Errorf("discontinuity at %d without EXT-X-MAP", seg.msn)
			}
		}
	}
	return out
}

// decodeTimes returns the tfdt of every listed part of a rendition, in order.
func decodeTimes(t *testing.T, sv *Server, r string, pl *mediaPL) []uint64 {
	t.Helper()
	var out []uint64
	for _, seg := range pl.segments {
		for _, p := range seg.parts {
			out = append(out, moofs(t, []byte(mustGet(t, sv, "/hls/room1/"+r+"/"+p.uri)))[0].Traf.Tfdt.BaseMediaDecodeTime())
		}
	}
	return out
}

func TestDiscontinuityNewResolution(t *testing.T) {
	for _, explicit := range []bool{true, false} {
		name := map[bool]string{true: "Discontinuity call", false: "in-band SPS change"}[explicit]
		t.Run(name, func(t *testing.T) {
			s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
			f.feedUntil(6 * time.Second) // the next video sample is a keyframe
			if explicit {
				if err := s.track("hi").Discontinuity(f.m.vinfo["lo"]); err != nil {
					t.Fatal(err)
				}
			}
			f.kinds[0] = "lo" // the "hi" rendition now carries 160x120
			f.feedUntil(10*time.Second + 500*time.Millisecond)
			video := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
			audio := parseMedia(t, mustGet(t, sv, "/hls/room1/a/index.m3u8"))
			vd, ad := discontinuities(t, video), discontinuities(t, audio)
			if len(vd) != 1 || len(ad) != 1 {
				t.Fatalf("discontinuities: video %v, audio %v\n%s\n%s", vd, ad, video.text, audio.text)
			}
			var newMap string
			for _, seg := range video.segments {
				if seg.disc {
					newMap = seg.mapURI
				}
			}
			if newMap == video.segments[0].mapURI {
				t.Fatalf("no new init segment after the discontinuity:\n%s", video.text)
			}
			file, err := mp4.DecodeFile(strings.NewReader(mustGet(t, sv, "/hls/room1/hi/"+newMap)))
			if err != nil || file.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd.AvcX.Width != 160 {
				t.Fatalf("new init segment: %v", err)
			}
			if mv := mustGet(t, sv, "/hls/room1/index.m3u8"); !strings.Contains(mv, "RESOLUTION=160x120") {
				t.Errorf("multivariant playlist still has the old resolution:\n%s", mv)
			}
			f.feedUntil(25 * time.Second) // the discontinuity leaves the window
			for _, r := range []string{"hi", AudioRendition} {
				pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
				if pl.discSeq != 1 || len(discontinuities(t, pl)) != 0 {
					t.Errorf("%s: DISCONTINUITY-SEQUENCE %d after the discontinuity left:\n%s", r, pl.discSeq, pl.text)
				}
			}
		})
	}
}

// TestPublisherReconnect: every track gets Discontinuity(nil) and timestamps restart at
// zero: one EXT-X-DISCONTINUITY per playlist, decode times keep increasing.
func TestPublisherReconnect(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	f.feedUntil(5 * time.Second)
	f.reconnect()
	f.feedUntil(1200 * time.Millisecond) // parts on both sides of the discontinuity are listed
	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		if d := discontinuities(t, pl); len(d) != 1 {
			t.Errorf("%s: discontinuities at %v, want one\n%s", r, d, pl.text)
		}
		times := decodeTimes(t, sv, r, pl)
		for i := 1; i < len(times); i++ {
			if times[i] <= times[i-1] {
				t.Errorf("%s: decode time %d after %d", r, times[i], times[i-1])
			}
		}
	}
	_ = s
}

// TestTimestampJump: DTS jumps back without a Discontinuity call (a broken source): the
// output keeps going with increasing decode times and no discontinuity.
func TestTimestampJump(t *testing.T) {
	_, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	f.feedUntil(3 * time.Second)
	for i := range f.next {
		f.next[i] = 0
	}
	f.feedUntil(4 * time.Second)
	for _, r := range []string{"hi", AudioRendition} {
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
		times := decodeTimes(t, sv, r, pl)
		for i := 1; i < len(times); i++ {
			if times[i] <= times[i-1] {
				t.Errorf("%s: decode time %d after %d", r, times[i], times[i-1])
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	s, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	video := s.track("hi")
	key := f.sample(0, 0)
	p := f.sample(0, 1)
	annexB := toAnnexB(key.Data)
	errCases := []struct {
		name string
		tr   *Track
		smp  Sample
		want error // nil: any error
	}{
		{"empty sample", video, Sample{}, nil},
		{"garbage", video, Sample{Data: []byte{1, 2, 3, 4, 5, 6}}, nil},
		{"length prefix past the end", video, Sample{Data: append([]byte{0, 0, 0, 99}, key.Data[4:20]...)}, nil},
		{"no keyframe yet", video, p, ErrNeedKeyframe},
	}
	for _, tc := range errCases {
		err := tc.tr.WriteSample(tc.smp)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	key.Data = annexB // Annex-B is converted
	if err := video.WriteSample(key); err != nil {
		t.Fatalf("Annex-B keyframe: %v", err)
	}
	f.next[0] = 1
	f.feedUntil(2500 * time.Millisecond)
	corrupt := f.sample(0, f.next[0])
	corrupt.Data = corrupt.Data[:len(corrupt.Data)-3]
	if err := video.WriteSample(corrupt); err == nil {
		t.Error("truncated access unit accepted")
	}
	f.feedUntil(4500 * time.Millisecond) // and the stream goes on
	if pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8")); len(pl.segments) < 2 {
		t.Errorf("stream did not go on after bad samples:\n%s", pl.text)
	}
	if err := video.Discontinuity(f.m.ainfo); err == nil {
		t.Error("audio info accepted for a video track")
	}
	for _, name := range []string{"", "a", "x/y", "hi", strings.Repeat("x", 65)} {
		if _, err := s.AddVideo(name, f.m.vinfo["lo"]); err == nil {
			t.Errorf("AddVideo(%q) accepted", name)
		}
	}
	if _, err := s.AddAudio(f.m.ainfo); err == nil {
		t.Error("second audio track accepted")
	}
	bad := f.m.vinfo["lo"]
	bad.SPS = []byte{0x67, 1}
	if _, err := s.AddVideo("bad", bad); err == nil {
		t.Error("broken SPS accepted")
	}
	if _, err := s.AddAudio(AudioTrackInfo{SampleRate: 48000}); err == nil {
		t.Error("audio without ASC accepted")
	}
}

// TestLazyParameterSets: a video track added without SPS/PPS takes them from the first
// keyframe.
func TestLazyParameterSets(t *testing.T) {
	m := loadMedia(t)
	s := NewStream("room1", testCfg, testLogger())
	defer s.Close()
	info := m.vinfo["hi"]
	info.SPS, info.PPS = nil, nil
	tr, err := s.AddVideo("hi", info)
	if err != nil {
		t.Fatal(err)
	}
	for i, smp := range m.video["hi"][:90] {
		if err := tr.WriteSample(smp); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.init == nil || len(tr.segs) != 1 || tr.video.Codec != "avc1.42c00d" || tr.video.Width != 320 {
		t.Errorf("init %v, %d segments, info %+v", tr.init != nil, len(tr.segs), tr.video)
	}
}

func toAnnexB(avcc []byte) []byte {
	var out []byte
	for len(avcc) >= 4 {
		n := binary.BigEndian.Uint32(avcc)
		out = append(append(out, 0, 0, 0, 1), avcc[4:4+n]...)
		avcc = avcc[4+n:]
	}
	return out
}
