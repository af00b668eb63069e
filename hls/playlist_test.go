package hls

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

var testCfg = Config{SegmentDuration: 2 * time.Second, PartDuration: 333 * time.Millisecond, Window: 6}

func testLogger() *slog.Logger {
	if os.Getenv("HLS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTestStream serves a Stream "room1" with the given renditions of the test media.
func newTestStream(t testing.TB, cfg Config, renditions ...string) (*Stream, *Server, *feeder) {
	t.Helper()
	m := loadMedia(t)
	s := NewStream("room1", cfg, testLogger())
	f := newFeeder(t, m, s, renditions...)
	sv := NewServer(testLogger())
	sv.Add("room1", s)
	t.Cleanup(s.Close)
	return s, sv, f
}

// moofs decodes the moof boxes of a part or segment.
func moofs(t testing.TB, data []byte) []*mp4.MoofBox {
	t.Helper()
	var out []*mp4.MoofBox
	r := bytes.NewReader(data)
	var pos uint64
	for r.Len() > 0 {
		box, err := mp4.DecodeBox(pos, r)
		if err != nil {
			t.Fatalf("decode box at %d: %v", pos, err)
		}
		if moof, ok := box.(*mp4.MoofBox); ok {
			out = append(out, moof)
		}
		pos += box.Size()
	}
	return out
}

func TestMediaPlaylistRules(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		feed time.Duration
	}{
		{"2s segments, 333ms parts", testCfg, 17 * time.Second},
		{"2s segments, 200ms parts, window 8", Config{SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, Window: 8}, 21 * time.Second},
		{"4s segments, 1s parts", Config{SegmentDuration: 4 * time.Second, PartDuration: time.Second, Window: 4}, 23 * time.Second},
		{"1s segments on a 2s GOP: cuts without keyframes", Config{SegmentDuration: time.Second, PartDuration: 250 * time.Millisecond, Window: 5}, 9 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, sv, f := newTestStream(t, tc.cfg, "hi", "lo", AudioRendition)
			f.feedUntil(tc.feed + 150*time.Millisecond)
			lists := map[string]*mediaPL{}
			for _, r := range []string{"hi", "lo", AudioRendition} {
				pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
				checkMediaRules(t, s, sv, r, pl)
				lists[r] = pl
			}
			hi, lo, a := lists["hi"].lastComplete().msn, lists["lo"].lastComplete().msn, lists[AudioRendition].lastComplete().msn
			if hi != lo || a+1 < hi || a > hi+1 {
				t.Errorf("renditions' last segments not aligned: hi %d, lo %d, audio %d", hi, lo, a)
			}
		})
	}
}

// checkMediaRules checks a live media playlist against RFC 8216bis's rules for LL-HLS.
func checkMediaRules(t *testing.T, s *Stream, sv *Server, rendition string, pl *mediaPL) {
	t.Helper()
	cfg := s.cfg
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: "+format+"\n%s", append([]any{rendition}, append(args, pl.text)...)...)
	}
	target := int(math.Ceil(cfg.SegmentDuration.Seconds()))
	if pl.version != 6 || pl.target != target {
		fail("EXT-X-VERSION %d, TARGETDURATION %d; want 6, %d", pl.version, pl.target, target)
	}
	if pl.partTarget < cfg.PartDuration.Seconds() || pl.partTarget > 1.02*cfg.PartDuration.Seconds() {
		fail("PART-TARGET %v for parts of %v", pl.partTarget, cfg.PartDuration)
	}
	c := pl.control
	if c["CAN-BLOCK-RELOAD"] != "YES" || atof(t, c["PART-HOLD-BACK"]) < 3*pl.partTarget-1e-9 ||
		atof(t, c["CAN-SKIP-UNTIL"]) < float64(6*target) || atof(t, c["HOLD-BACK"]) < float64(3*target) {
		fail("EXT-X-SERVER-CONTROL %v breaks the minimums", c)
	}
	for tag, want := range map[string]int{"EXT-X-MEDIA-SEQUENCE": 1, "EXT-X-DISCONTINUITY-SEQUENCE": 1, "EXT-X-PRELOAD-HINT": 1,
		"EXT-X-PLAYLIST-TYPE": 0, "EXT-X-ENDLIST": 0, "EXT-X-SKIP": 0, "EXT-X-RENDITION-REPORT": 2} {
		if got := len(pl.tags[tag]); got != want {
			fail("%d %s tags, want %d", got, tag, want)
		}
	}
	if !strings.HasPrefix(pl.tags["EXT-X-PRELOAD-HINT"][0], "TYPE=PART,") {
		fail("preload hint is not TYPE=PART")
	}
	complete := 0
	for i, seg := range pl.segments {
		if seg.complete {
			complete++
			if math.Round(seg.dur) > float64(pl.target) {
				fail("segment %d lasts %v > TARGETDURATION", seg.msn, seg.dur)
			}
		}
		if i == 0 && seg.mapURI == "" {
			fail("no EXT-X-MAP before the first segment")
		}
		if seg.pdt.IsZero() {
			fail("segment %d has no PROGRAM-DATE-TIME", seg.msn)
		}
		if i > 0 && !seg.disc {
			prev := pl.segments[i-1]
			if d := seg.pdt.Sub(prev.pdt).Seconds() - prev.dur; math.Abs(d) > 0.002 {
				fail("PROGRAM-DATE-TIME of %d is %.4fs off the previous one's end", seg.msn, d)
			}
		}
		if len(seg.parts) > 0 && i < len(pl.segments)-3 {
			fail("segment %d lists parts more than 3 segments from the end", seg.msn)
		}
		checkParts(t, sv, rendition, pl, seg, fail)
	}
	if complete != cfg.Window {
		fail("%d complete segments listed, window is %d", complete, cfg.Window)
	}
	tr := s.track(rendition)
	tr.mu.Lock()
	msn, idx := tr.edgeLocked()
	tr.mu.Unlock()
	if hm, hi := pl.hintPos(t); hm != msn || hi != idx {
		fail("preload hint %s, live edge is part %d.%d", pl.hint, msn, idx)
	}
	for _, rep := range pl.reports {
		other := s.track(strings.TrimSuffix(strings.TrimPrefix(rep["URI"], "../"), "/index.m3u8"))
		if other == nil || other == tr {
			fail("rendition report for %q", rep["URI"])
			continue
		}
		m, p, _ := other.lastPart()
		if uint64(atoi(t, rep["LAST-MSN"])) != m || atoi(t, rep["LAST-PART"]) != p {
			fail("report %v, but %s's last part is %d.%d", rep, other.rendition, m, p)
		}
	}
}

// checkParts checks a segment's parts: durations, INDEPENDENT against the data (its first
// sample is a sync sample), decode times continuous, and the segment equal to its parts.
func checkParts(t *testing.T, sv *Server, rendition string, pl *mediaPL, seg plSegment, fail func(string, ...any)) {
	t.Helper()
	var sum float64
	var whole []byte
	var nextDecode uint64
	for j, p := range seg.parts {
		sum += p.dur
		if p.dur > pl.partTarget {
			fail("part %s lasts %v > PART-TARGET %v", p.uri, p.dur, pl.partTarget)
		}
		if j < len(seg.parts)-1 && p.dur < 0.85*pl.partTarget {
			fail("part %s lasts %v, under 85%% of PART-TARGET, and is not the segment's last", p.uri, p.dur)
		}
		data := mustGet(t, sv, "/hls/room1/"+rendition+"/"+p.uri)
		whole = append(whole, data...)
		ms := moofs(t, []byte(data))
		if len(ms) != 1 {
			fail("part %s has %d moof boxes", p.uri, len(ms))
			continue
		}
		trun := ms[0].Traf.Trun
		if sync := mp4.IsSyncSampleFlags(trun.Samples[0].Flags); sync != p.independent {
			fail("part %s: INDEPENDENT=%v but first sample sync=%v", p.uri, p.independent, sync)
		}
		if decode := ms[0].Traf.Tfdt.BaseMediaDecodeTime(); j > 0 && decode != nextDecode {
			fail("part %s decodes at %d, previous part ended at %d", p.uri, decode, nextDecode)
		}
		nextDecode = ms[0].Traf.Tfdt.BaseMediaDecodeTime() + trun.Duration(0)
	}
	if !seg.complete || len(seg.parts) == 0 {
		return
	}
	if math.Abs(sum-seg.dur) > 0.0002 {
		fail("segment %d lasts %v, its parts %v", seg.msn, seg.dur, sum)
	}
	if data := mustGet(t, sv, "/hls/room1/"+rendition+"/"+seg.uri); data != string(whole) {
		fail("segment %s is not its parts concatenated", seg.uri)
	}
	if rendition != AudioRendition && seg.msn > pl.mediaSeq && !seg.parts[0].independent && pl.target >= 2 {
		fail("segment %d does not start with an independent part", seg.msn)
	}
}

func TestMediaSequenceMonotonic(t *testing.T) {
	_, sv, f := newTestStream(t, testCfg, "hi", AudioRendition)
	seen := map[string]map[uint64]string{} // rendition → msn → "uri duration"
	var lastSeq, lastDisc = map[string]uint64{}, map[string]uint64{}
	for until := 2500 * time.Millisecond; until < 30*time.Second; until += 250 * time.Millisecond {
		f.feedUntil(until)
		for _, r := range []string{"hi", AudioRendition} {
			pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
			if pl.mediaSeq < lastSeq[r] || pl.discSeq < lastDisc[r] {
				t.Fatalf("%s: media sequence %d after %d, discontinuity sequence %d after %d", r, pl.mediaSeq, lastSeq[r], pl.discSeq, lastDisc[r])
			}
			lastSeq[r], lastDisc[r] = pl.mediaSeq, pl.discSeq
			if seen[r] == nil {
				seen[r] = map[uint64]string{}
			}
			for _, seg := range pl.segments {
				if !seg.complete {
					continue
				}
				id := fmt.Sprintf("%s %.5f", seg.uri, seg.dur)
				if old, ok := seen[r][seg.msn]; ok && old != id {
					t.Fatalf("%s: segment %d was %q, now %q", r, seg.msn, old, id)
				}
				seen[r][seg.msn] = id
			}
		}
	}
}
