package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/glint-video/glint/dash"
	"github.com/glint-video/glint/internal/testkit"
)

// TestLLDASH: a demo publisher (854x480 H.264 + Opus over WHIP) into a server with LL-HLS
// on, whose ladder (480p source + 360p rung + AAC) is then also served as LL-DASH:
//   - mpd: a strict check of /dash/{room}/manifest.mpd against the segments it names;
//   - ffprobe: reads the MPD and decodes every representation;
//   - cte: a segment requested before it starts receives its first chunk long before it
//     is complete (timestamped per chunk), and the chunk availability latency (capture →
//     first byte of its chunk at the client) is logged;
//   - players: dash.js (low-latency mode) and hls.js play the room side by side in Chromium;
//     both play, dash.js's live latency is under dashLatency, and both latencies are logged.
func TestLLDASH(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	testkit.RequireTool(t, "ffprobe")
	srv := startServer(t, "--hls=true")
	room := "lldash"
	demo := startDemoRoom(t, srv, room)
	mpdURL := srv.url("/dash/" + room + "/manifest.mpd")
	waitMPD(t, mpdURL, 2)

	t.Run("mpd", func(t *testing.T) { checkMPD(t, srv, room) })
	t.Run("ffprobe", func(t *testing.T) { probeMPD(t, mpdURL) })
	t.Run("cte", func(t *testing.T) { checkChunkedSegment(t, srv, room) })
	t.Run("players", func(t *testing.T) { playDASHAndHLS(t, srv, room) })

	if err := demo.Stop(15 * time.Second); err != nil {
		t.Errorf("glint demo after SIGTERM: %v (want exit status 0)", err)
	}
}

// startDemoRoom publishes `glint demo` (854x480 H.264 + Opus over WHIP) into room and waits
// until the room is live with both.
func startDemoRoom(t *testing.T, srv *server, room string) *testkit.Proc {
	t.Helper()
	demo := testkit.StartProc(t, testkit.ProcOptions{Name: "glint demo"}, glintBin(t), "demo", "--url", srv.url("/whip/"+room),
		"--size", "854x480", "--loopback")
	srv.waitRoom(t, room, 30*time.Second, "live with H264 video and audio", func(r roomInfo) bool {
		v, okV := r.track("video")
		_, okA := r.track("audio")
		return r.Live && okV && okA && strings.EqualFold(v.Codec, "H264")
	})
	return demo
}

// fetch GETs url and fails the test unless the answer is 200.
func fetch(t *testing.T, url string) ([]byte, http.Header) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, body)
	}
	return body, resp.Header
}

// getMPD fetches and parses an MPD.
func getMPD(t *testing.T, url string) (*dash.MPD, http.Header) {
	t.Helper()
	body, h := fetch(t, url)
	var m dash.MPD
	if err := xml.Unmarshal(body, &m); err != nil {
		t.Fatalf("MPD %s: %v\n%s", url, err, body)
	}
	return &m, h
}

// waitMPD waits until every representation of the MPD lists at least n complete segments
// (the ladder's rungs start a little after the source).
func waitMPD(t *testing.T, url string, n int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		resp, err := httpClient.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			var m dash.MPD
			if resp.StatusCode == http.StatusOK && xml.Unmarshal(body, &m) == nil && len(m.Periods) == 1 && allListed(m, n) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no MPD with %d segments per representation within 60 s (last error %v)", url, n, err)
		}
	}
}

func allListed(m dash.MPD, n int) bool {
	reps := 0
	for _, as := range m.Periods[0].AdaptationSets {
		for _, rep := range as.Representations {
			if len(expandTimeline(rep.SegmentTemplate)) < n+1 {
				return false
			}
			reps++
		}
	}
	return reps >= 3
}

// timelineSegment is one segment of a SegmentTimeline: its $Number$, time and duration.
type timelineSegment struct {
	number uint64
	t, d   uint64
}

// expandTimeline lists a SegmentTemplate's segments, numbered from startNumber.
func expandTimeline(st dash.SegmentTemplate) []timelineSegment {
	var out []timelineSegment
	for _, s := range st.Segments() {
		out = append(out, timelineSegment{number: s.Number, t: s.T, d: s.D})
	}
	return out
}

func segmentTiming(t *testing.T, data []byte) (tfdt, dur uint64, chunks int) {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	for _, seg := range f.Segments {
		for _, frag := range seg.Fragments {
			samples, err := frag.GetFullSamples(nil)
			if err != nil {
				t.Fatalf("segment samples: %v", err)
			}
			if chunks == 0 {
				tfdt = frag.Moof.Traf.Tfdt.BaseMediaDecodeTime()
			}
			for _, s := range samples {
				dur += uint64(s.Dur)
			}
			chunks++
		}
	}
	return tfdt, dur, chunks
}

// probeMPD: ffprobe reads the MPD and decodes every representation (two video, one audio).
func probeMPD(t *testing.T, mpdURL string) {
	streams, err := testkit.ProbeStreams(context.Background(), mpdURL, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var video, audio int
	for _, s := range streams {
		switch {
		case s.Codec == "h264" && s.Width > 0 && s.Frames > 0:
			video++
		case s.Codec == "aac" && s.Channels > 0 && s.Frames > 0:
			audio++
		default:
			t.Errorf("stream %v: %d frames decoded; want decoded H.264 or AAC", s, s.Frames)
		}
	}
	if video < 2 || audio != 1 {
		t.Errorf("ffprobe %s: %v; want both video representations and the audio decoded", mpdURL, streams)
	}
	t.Logf("ffprobe: %v", streams)
}

// checkChunkedSegment requests the segment after the one being written before it starts
// and timestamps every read: the first chunk must arrive well before the segment is
// complete. Chunk availability latency: capture time of a chunk's first sample (the MPD's
// availabilityStartTime + its decode time) → the client reading its first byte.
func checkChunkedSegment(t *testing.T, srv *server, room string) {
	m, _ := getMPD(t, srv.url("/dash/"+room+"/manifest.mpd"))
	ast, err := time.Parse(time.RFC3339Nano, m.AvailabilityStartTime)
	if err != nil {
		t.Fatalf("availabilityStartTime: %v", err)
	}
	rep := m.Periods[0].AdaptationSets[0].Representations[0]
	segs := expandTimeline(rep.SegmentTemplate)
	next := segs[len(segs)-1].number + 1
	url := srv.url(fmt.Sprintf("/dash/%s/%s/seg%d.m4s", room, rep.ID, next))
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != -1 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET %s: %d, Content-Length %d, Cache-Control %q: want 200 chunked, no-store", url, resp.StatusCode,
			resp.ContentLength, resp.Header.Get("Cache-Control"))
	}
	type read struct {
		at  time.Time
		end int // body length after the read
	}
	var body bytes.Buffer
	var reads []read
	buf := make([]byte, 256<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			body.Write(buf[:n])
			reads = append(reads, read{time.Now(), body.Len()})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", url, err)
		}
	}
	complete := reads[len(reads)-1].at
	early := complete.Sub(reads[0].at)
	whole, _ := fetch(t, srv.url(fmt.Sprintf("/hls/%s/%s/seg%d.m4s", room, rep.ID, next)))
	if !bytes.Equal(body.Bytes(), whole) {
		t.Errorf("chunked segment: %d bytes differ from the complete segment's %d", body.Len(), len(whole))
	}
	// Generous: the segment spans about 2 s of capture; its first part is out after one.
	if early < 500*time.Millisecond {
		t.Errorf("first chunk %v before the segment completed (%d reads): want it well before", early, len(reads))
	}
	var lat []float64
	f, err := mp4.DecodeFile(bytes.NewReader(whole))
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	for _, frag := range f.Segments[0].Fragments {
		at := reads[slices.IndexFunc(reads, func(r read) bool { return uint64(r.end) > frag.StartPos })].at
		capture := ast.Add(time.Duration(float64(frag.Moof.Traf.Tfdt.BaseMediaDecodeTime()) / float64(rep.SegmentTemplate.Timescale) * float64(time.Second)))
		lat = append(lat, at.Sub(capture).Seconds()*1000)
	}
	t.Logf("segment %d (%s): first chunk %v before completion; %d reads; chunk availability latency (capture → first byte) ms: %v",
		next, rep.ID, early.Round(time.Millisecond), len(reads), roundAll(lat))
}

func roundAll(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}

// checkMPD is the strict MPD check: required attributes, profiles and timing against the
// real segments (see checkRepresentation), the live edge against the wall clock, and the
// time endpoint.
func checkMPD(t *testing.T, srv *server, room string) {
	m, h := getMPD(t, srv.url("/dash/"+room+"/manifest.mpd"))
	fetchedAt := time.Now()
	if ct := h.Get("Content-Type"); ct != "application/dash+xml" {
		t.Errorf("Content-Type %q", ct)
	}
	ast, err1 := time.Parse(time.RFC3339Nano, m.AvailabilityStartTime)
	pub, err2 := time.Parse(time.RFC3339Nano, m.PublishTime)
	mup, err3 := dash.ParseDuration(m.MinimumUpdatePeriod)
	tsbd, err4 := dash.ParseDuration(m.TimeShiftBufferDepth)
	maxSeg, err5 := dash.ParseDuration(m.MaxSegmentDuration)
	_, err6 := dash.ParseDuration(m.MinBufferTime)
	for i, err := range []error{err1, err2, err3, err4, err5, err6} {
		if err != nil {
			t.Fatalf("MPD attribute %d: %v", i, err)
		}
	}
	if m.Type != "dynamic" || !strings.Contains(m.Profiles, "urn:mpeg:dash:profile:isoff-live:2011") ||
		mup <= 0 || tsbd < 6*time.Second || maxSeg < 2*time.Second || pub.Sub(fetchedAt).Abs() > 2*time.Second {
		t.Errorf("MPD: type %q profiles %q MUP %v TSBD %v maxSegmentDuration %v publishTime %v (fetched %v)",
			m.Type, m.Profiles, mup, tsbd, maxSeg, pub, fetchedAt)
	}
	sd := m.ServiceDescription
	if sd == nil || sd.Latency == nil || sd.PlaybackRate == nil || !(sd.Latency.Min <= sd.Latency.Target && sd.Latency.Target <= sd.Latency.Max) ||
		!(sd.PlaybackRate.Min < 1 && sd.PlaybackRate.Max > 1) || sd.Latency.Target > 2000 {
		t.Errorf("ServiceDescription %+v: want Latency min ≤ target (≤ 2 s) ≤ max and PlaybackRate around 1", sd)
	}
	checkUTCTiming(t, m)
	if len(m.Periods) != 1 || len(m.Periods[0].AdaptationSets) != 2 {
		t.Fatalf("want one Period with a video and an audio AdaptationSet: %+v", m.Periods)
	}
	multivariant, _ := fetch(t, srv.url("/hls/"+room+"/index.m3u8"))
	for _, as := range m.Periods[0].AdaptationSets {
		if as.MimeType != as.ContentType+"/mp4" || len(as.Representations) == 0 {
			t.Errorf("AdaptationSet %d: mimeType %q contentType %q, %d representations", as.ID, as.MimeType, as.ContentType, len(as.Representations))
		}
		if as.ContentType == "video" && len(as.Representations) < 2 {
			t.Errorf("video AdaptationSet: %d representations; want the ladder (source + 360p)", len(as.Representations))
		}
		for _, rep := range as.Representations {
			if !bytes.Contains(multivariant, []byte(rep.Codecs)) {
				t.Errorf("%s: codecs %q not in the HLS multivariant playlist's CODECS", rep.ID, rep.Codecs)
			}
			checkRepresentation(t, srv, room, ast, fetchedAt, as.ContentType, rep)
		}
	}
}

// checkUTCTiming: the time endpoint answers an ISO 8601 time close to the local clock.
func checkUTCTiming(t *testing.T, m *dash.MPD) {
	if len(m.UTCTiming) != 1 || m.UTCTiming[0].SchemeIDURI != dash.UTCTimingScheme {
		t.Fatalf("UTCTiming %+v: want one %s", m.UTCTiming, dash.UTCTimingScheme)
	}
	body, _ := fetch(t, m.UTCTiming[0].Value)
	at, err := time.Parse(time.RFC3339Nano, string(body))
	if err != nil || time.Since(at).Abs() > 2*time.Second {
		t.Errorf("time endpoint: %q (%v): want ISO 8601 near now", body, err)
	}
}

// checkRepresentation: required attributes; $Number$ addressing; init segment = the HLS
// one; numbers continuous; every complete segment's decode time and duration = its S; the
// bytes = the HLS segment's (the DVR's, for one behind the LL-HLS window); the segment being written starts at the live edge's wall
// clock (availabilityStartTime + t) within tolerance.
func checkRepresentation(t *testing.T, srv *server, room string, ast, fetchedAt time.Time, kind string, rep dash.Representation) {
	st := rep.SegmentTemplate
	if rep.ID == "" || rep.Bandwidth <= 0 || rep.Codecs == "" || st.Timescale == 0 ||
		kind == "video" && (rep.Width == 0 || rep.Height == 0) || kind == "audio" && rep.AudioSamplingRate == 0 {
		t.Errorf("representation %+v: required attributes missing", rep)
	}
	if st.Media != rep.ID+"/seg$Number$.m4s" || st.AvailabilityTimeComplete != "false" || st.AvailabilityTimeOffset == "" {
		t.Errorf("%s: SegmentTemplate %+v: want media %s/seg$Number$.m4s, availabilityTimeOffset, availabilityTimeComplete=false",
			rep.ID, st, rep.ID)
	}
	base := srv.url("/dash/" + room + "/")
	init, _ := fetch(t, base+st.Initialization)
	hlsInit, _ := fetch(t, srv.url("/hls/"+room+"/"+st.Initialization))
	if !bytes.Equal(init, hlsInit) {
		t.Errorf("%s: init segment differs from /hls/'s", rep.ID)
	}
	segs := expandTimeline(st)
	for i, seg := range segs[:len(segs)-1] { // the last is being written
		data, _ := fetch(t, base+strings.ReplaceAll(st.Media, "$Number$", strconv.FormatUint(seg.number, 10)))
		tfdt, dur, _ := segmentTiming(t, data)
		if tfdt != seg.t || dur != seg.d {
			t.Errorf("%s segment %d (#%d): tfdt %d, duration %d; the timeline says t=%d d=%d", rep.ID, seg.number, i, tfdt, dur, seg.t, seg.d)
		}
		same, where := sameAsServed(t, srv, room, rep.ID, seg.number, data)
		if !same {
			t.Errorf("%s segment %d: bytes differ from %s", rep.ID, seg.number, where)
		}
	}
	live := segs[len(segs)-1]
	edge := ast.Add(time.Duration(float64(live.t) / float64(st.Timescale) * float64(time.Second)))
	if lag := fetchedAt.Sub(edge); lag < -time.Second || lag > 5*time.Second {
		t.Errorf("%s: the segment being written starts at %v by the MPD, %v before the fetch: want within a segment (+ slack)",
			rep.ID, edge, lag)
	}
}

// sameAsServed reports whether data are the bytes of segment n as /hls/ serves it or, once
// it is behind the LL-HLS window, as the DVR serves it from the room's live recording;
// where says which was compared.
func sameAsServed(t *testing.T, srv *server, room, rendition string, n uint64, data []byte) (bool, string) {
	t.Helper()
	resp, err := httpClient.Get(srv.url(fmt.Sprintf("/hls/%s/%s/seg%d.m4s", room, rendition, n)))
	if err != nil {
		t.Fatalf("GET /hls/ segment: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err == nil && resp.StatusCode == http.StatusOK {
		return bytes.Equal(body, data), "/hls/'s"
	}
	rec := waitRecorded(t, srv, room, 0)
	stored, _ := fetch(t, srv.url(fmt.Sprintf("/dvr/recordings/%s/%s/seg-%d.m4s", rec.ID, rendition, n)))
	return bytes.Equal(stored, data), "the DVR's"
}
