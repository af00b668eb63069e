package hls

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkWriteSample measures packaging: one op is one second of 320x240 video and its
// audio (30 access units, ~47 AAC frames) into parts and segments.
func BenchmarkWriteSample(b *testing.B) {
	_, _, f := newTestStream(b, testCfg, "hi", AudioRendition)
	b.ReportAllocs()
	until := time.Duration(0)
	for b.Loop() {
		until += time.Second
		f.feedUntil(until)
	}
}

// BenchmarkBlockingReload measures answering one blocking playlist reload (render and
// gzip) for a full window.
func BenchmarkBlockingReload(b *testing.B) {
	s, sv, f := newTestStream(b, testCfg, "hi", "lo", AudioRendition)
	f.feedUntil(15 * time.Second)
	tr := s.track("hi")
	tr.mu.Lock()
	msn, idx := tr.edgeLocked()
	tr.mu.Unlock()
	url := "/hls/room1/hi/index.m3u8?_HLS_msn=" + strconv.FormatUint(msn, 10) + "&_HLS_part=" + strconv.Itoa(idx-1)
	b.ReportAllocs()
	for b.Loop() {
		if rec := get(sv, url, "Accept-Encoding", "gzip"); rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
