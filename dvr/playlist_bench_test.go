package dvr

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/glint-video/glint/media"
)

// sixHours is a rendition's index after 6 h of 2 s segments: 10,800 segments.
func sixHours() []Segment {
	start := time.Date(2026, 12, 5, 15, 0, 0, 0, time.UTC)
	segs := make([]Segment, 10800)
	for i := range segs {
		msn := uint64(898250000 + i)
		segs[i] = Segment{MSN: msn, Key: fmt.Sprintf("room1/room1.20261205T150000Z/hi/seg-%d.m4s", msn),
			InitKey: "room1/room1.20261205T150000Z/hi/init-898250000.mp4", Bytes: 250_000,
			Duration: 2 * time.Second, PDT: start.Add(time.Duration(i) * 2 * time.Second), Independent: true}
	}
	return segs
}

// BenchmarkWindowPlaylist6h renders the DVR window playlist of a 6 h window, with a
// catch-up start in the middle (the work of one /dvr/{room}/{rendition}.m3u8 request).
func BenchmarkWindowPlaylist6h(b *testing.B) {
	segs := sixHours()
	at := segs[5400].PDT.Add(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		from := windowFrom(segs, 6*time.Hour)
		p := mediaPlaylist{typ: typeWindow, segs: segs[from:], base: "../recordings/room1.20261205T150000Z/hi/",
			discSeq: discontinuitiesBefore(segs, from), start: at}
		if body := p.render(); len(body) < 10800*100 {
			b.Fatalf("playlist of %d bytes", len(body))
		}
	}
}

// BenchmarkClipPlaylist makes a 10-minute clip of a 6 h recording and renders its
// playlist: the work POST /api/rooms/{room}/clips does before it answers (the MP4 aside).
func BenchmarkClipPlaylist(b *testing.B) {
	segs := sixHours()
	cat := &indexCatalog{rec: Recording{ID: "room1.20261205T150000Z", Room: "room1", Start: segs[0].PDT,
		Renditions: []string{"hi"}}, segs: segs, init: videoInit(b)}
	h := NewHandler(HandlerOptions{Catalog: cat, Log: quietLog()})
	defer h.Close(context.Background())
	start := segs[3000].PDT.Add(500 * time.Millisecond)
	req := clipRequest{Start: &start, End: new(start.Add(10 * time.Minute))}
	b.ReportAllocs()
	for b.Loop() {
		c, _, err := h.newClip(context.Background(), cat.rec, req)
		if err != nil {
			b.Fatal(err)
		}
		p := mediaPlaylist{typ: typeVOD, segs: c.segs["hi"], base: "hi/"}
		if len(p.render()) == 0 {
			b.Fatal("empty playlist")
		}
		c.releaseHold()
	}
}

// BenchmarkClipMP4 remuxes a 10-minute clip (320x240 video and AAC audio, stored by the
// Library) into an MP4, cut at keyframes and frame-accurate (its first GOP re-encoded).
func BenchmarkClipMP4(b *testing.B) {
	lib := openLib(b, b.TempDir(), Options{})
	start := time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)
	rec := startRecording(b, lib, "room1", start)
	rec.feed(b, 10*time.Minute+4*time.Second)
	rec.end()
	waitDrained(b, lib)
	h := NewHandler(HandlerOptions{Catalog: lib, Log: quietLog(), ClipDir: b.TempDir()})
	defer h.Close(context.Background())
	info, _ := lib.Recording(rec.id)
	from := start.Add(time.Second + 500*time.Millisecond)
	for _, accurate := range []bool{false, true} {
		b.Run(fmt.Sprintf("accurate=%v", accurate), func(b *testing.B) {
			c, _, err := h.newClip(context.Background(), info, clipRequest{Start: &from, End: new(from.Add(10 * time.Minute)), Accurate: accurate})
			if err != nil {
				b.Fatal(err)
			}
			defer c.release()
			b.ReportAllocs()
			for b.Loop() {
				size, dur, err := h.writeClipMP4(context.Background(), c)
				if err != nil || dur < 10*time.Minute-2*time.Second {
					b.Fatalf("%d bytes lasting %v: %v", size, dur, err)
				}
				b.SetBytes(size)
				if err := os.Remove(c.mp4Path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// indexCatalog is a Catalog of one recording's index with no bytes but its init segment,
// for the playlist benchmarks.
type indexCatalog struct {
	rec  Recording
	segs []Segment
	init []byte
}

// videoInit is an init segment of the 320x240 test clip.
func videoInit(b *testing.B) []byte {
	var sps, pps []byte
	for nalu := range media.SplitAnnexB(clip(b, 320, 240)[0].Data) {
		switch nalu[0] & 0x1f {
		case 7:
			sps = nalu
		case 8:
			pps = nalu
		}
	}
	init, err := avcInit(90000, sps, pps)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func (c *indexCatalog) Recordings(string) []Recording              { return []Recording{c.rec} }
func (c *indexCatalog) Recording(string) (Recording, bool)         { return c.rec, true }
func (c *indexCatalog) Live(string) (Recording, bool)              { return c.rec, true }
func (c *indexCatalog) Segments(string, string) ([]Segment, error) { return c.segs, nil }
func (c *indexCatalog) DateRanges(string) ([]DateRange, error)     { return nil, nil }
func (c *indexCatalog) Read(_ context.Context, key string) ([]byte, error) {
	if key == c.segs[0].InitKey {
		return c.init, nil
	}
	return nil, ErrNotFound
}
func (c *indexCatalog) Hold(string) (func(), error)          { return func() {}, nil }
func (c *indexCatalog) Delete(context.Context, string) error { return nil }
