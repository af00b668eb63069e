package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fuzz targets for everything that parses a publisher's bytes, seeded with ffmpeg captures
// (testdata/fuzz/seeds). Each checks that nothing panics and that whatever reaches the room
// is well-formed RTP within the MTU.

func addSeeds(f *testing.F, ext string, conv func([]byte) []byte) {
	paths, _ := filepath.Glob("testdata/fuzz/seeds/*." + ext)
	if len(paths) == 0 {
		f.Fatalf("no *.%s seeds", ext)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(conv(b))
	}
}

func checkSentRoom(t *testing.T, room *fakeRoom) {
	if room.bad != nil {
		t.Fatalf("bad RTP sent: %v", room.bad)
	}
}

// FuzzFLV: FLV files (the tags an RTMP publisher sends) through the RTMP message layer.
func FuzzFLV(f *testing.F) {
	addSeeds(f, "flv", func(b []byte) []byte { return b })
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _ := flvTags(data)
		st, room := newTestStream(t, fakeTranscode())
		_ = demuxRTMP(st, rtmpChunks(msgs, 4096))
		st.close()
		checkSentRoom(t, room)
	})
}

// FuzzRTMPChunks: raw RTMP chunk streams (what follows the handshake).
func FuzzRTMPChunks(f *testing.F) {
	addSeeds(f, "flv", func(b []byte) []byte {
		msgs, _ := flvTags(b)
		return rtmpChunks(msgs, 128)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, room := newTestStream(t, fakeTranscode())
		_ = demuxRTMP(st, data)
		st.close()
		checkSentRoom(t, room)
	})
}

// FuzzTS: MPEG-TS as SRT publishers send it.
func FuzzTS(f *testing.F) {
	addSeeds(f, "ts", func(b []byte) []byte { return b })
	f.Fuzz(func(t *testing.T, data []byte) {
		st, room := newTestStream(t, fakeTranscode())
		_ = runTS(bytes.NewReader(data), st)
		st.close()
		checkSentRoom(t, room)
	})
}

// FuzzStreamID: SRT streamids and RTMP paths.
func FuzzStreamID(f *testing.F) {
	for _, s := range []string{"publish:cam", "publish:cam/k", "#!::r=cam,m=publish,s=k", "%23!::m=publish,r=a", "/live/cam?key=k", "/live/cam/k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if room, _, err := srtTarget(s); err == nil && (room == "" || strings.ContainsAny(room, "/,=#")) {
			t.Fatalf("streamid %q gave room %q", s, room)
		}
		if u, err := parseURLForFuzz(s); err == nil {
			if room, _, err := rtmpTarget(u); err == nil && (room == "" || strings.Contains(room, "/")) {
				t.Fatalf("path %q gave room %q", s, room)
			}
		}
	})
}

// TestSeedsAreSmall keeps the captures small. They were made with
//
//	SRC="-f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1"
//	V="-c:v libx264 -preset veryfast -tune zerolatency -profile:v baseline -pix_fmt yuv420p -g 15 -bf 0 -b:v 150k -maxrate 150k -bufsize 150k"
//	ffmpeg $SRC $V -c:a aac -b:a 32k -ar 48000 -f flv h264_aac.flv       # and -f mpegts h264_aac.ts
//	ffmpeg $SRC $V -c:a libopus -b:a 32k -ar 48000 -f mpegts h264_opus.ts
//	ffmpeg $SRC -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 15 -bf 2 -b:v 150k -maxrate 150k -bufsize 150k \
//	  -c:a aac -b:a 32k -f flv h264_bframes_aac.flv
//	go test -run TestAV1TSToReencoder -update-av1-seed   # av1_aac.ts: AV1 per AOM's mapping + AAC
func TestSeedsAreSmall(t *testing.T) {
	paths, _ := filepath.Glob("testdata/fuzz/seeds/*")
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Size() >= 100<<10 {
			t.Errorf("%s: %v, want a file under 100 KB", p, err)
		}
	}
}
