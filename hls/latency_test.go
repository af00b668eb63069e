package hls

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPartPublishedWithItsLastFrame writes samples one at a time and follows the part the
// preload hint names: a part that does not end its segment is out as soon as its last frame
// is written (not when the next frame brings that frame's duration), and a blocked request
// for it is answered with it. Only a part that reaches the segment duration may wait for
// the next frame, which tells whether a new segment starts there. Video at 30 fps and audio, 200 ms parts.
func TestPartPublishedWithItsLastFrame(t *testing.T) {
	cfg := Config{SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, Window: 4}
	s, sv, f := newTestStream(t, cfg, "hi", AudioRendition)
	f.feedUntil(3 * time.Second)
	for _, r := range []string{"hi", AudioRendition} {
		tr := s.track(r)
		early, late := 0, 0
		for range 30 {
			pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
			msn, idx := pl.hintPos(t)
			url := fmt.Sprintf("/hls/room1/%s/part%d.%d.m4s", r, msn, idx)
			done := asyncGet(sv, url)
			var last Sample
			for !published(tr, msn, idx) {
				i, smp := f.peek()
				if err := f.writeNext(); err != nil {
					t.Fatal(err)
				}
				if f.tracks[i] == tr {
					last = smp
				}
			}
			tr.mu.Lock()
			withLast := tr.pending == nil && tr.end == last.DTS+tr.offset+last.Duration
			endsSegment := tr.cur == nil || tr.cur.msn != msn
			if !endsSegment { // a part reaching the segment's end waits: a new segment may start after it
				endsSegment = ticksDur(tr.cur.ticks, tr.timescale)+2*last.Duration >= cfg.SegmentDuration-cfg.SegmentDuration/20
			}
			tr.mu.Unlock()
			switch {
			case withLast:
				early++
			case endsSegment:
				late++
			default:
				t.Errorf("%s: part %d.%d came out after its last frame (sample at %v)", r, msn, idx, last.DTS)
			}
			select {
			case rec := <-done:
				if rec.Code != http.StatusOK && !endsSegment {
					t.Fatalf("%s: %d %s", url, rec.Code, rec.Body)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no answer 5s after the part was out", url)
			}
		}
		t.Logf("%s: %d parts out with their last frame, %d at a segment end out with the next frame", r, early, late)
		if early < 20 {
			t.Errorf("%s: only %d of 30 parts out with their last frame", r, early)
		}
	}
}

// TestPartEarlyThenTimestampJitter writes frames whose timestamps wander by a few
// milliseconds around 30 fps, and a jump back (a publisher restarting its clock): parts
// published early stay within the part target, the media sequence and the decode times
// keep increasing, and the playlists keep the RFC's rules.
func TestPartEarlyThenTimestampJitter(t *testing.T) {
	cfg := Config{SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, Window: 4}
	m := loadMedia(t)
	s := NewStream("room1", cfg, testLogger())
	t.Cleanup(s.Close)
	sv := NewServer(testLogger())
	sv.Add("room1", s)
	tr, err := s.AddVideo("hi", m.vinfo["hi"])
	if err != nil {
		t.Fatal(err)
	}
	frames := m.video["hi"]
	jitter := []time.Duration{0, 4 * time.Millisecond, -3 * time.Millisecond, 2 * time.Millisecond, -5 * time.Millisecond}
	var shift time.Duration
	for n := range 2 * len(frames) {
		smp := frames[n%len(frames)]
		if n == len(frames) {
			shift = -smp.DTS - 5*time.Second // timestamps jump back: rebased
		}
		d := smp.DTS + shift + 10*time.Second
		if !smp.Keyframe {
			d += jitter[n%len(jitter)]
		}
		smp.DTS, smp.PTS, smp.CaptureTime = d, d, time.Unix(0, 0).Add(d)
		if err := tr.WriteSample(smp); err != nil {
			t.Fatalf("sample %d: %v", n, err)
		}
	}
	pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
	for _, seg := range pl.segments {
		for _, p := range seg.parts {
			if p.dur > pl.partTarget+1e-6 {
				t.Errorf("segment %d: part of %v s > PART-TARGET %v", seg.msn, p.dur, pl.partTarget)
			}
		}
	}
	var prev uint64
	for _, seg := range pl.segments[:len(pl.segments)-1] {
		for _, moof := range moofs(t, []byte(mustGet(t, sv, "/hls/room1/hi/"+seg.uri))) {
			dt := moof.Traf.Tfdt.BaseMediaDecodeTime()
			if dt <= prev {
				t.Errorf("segment %d: decode time %d after %d", seg.msn, dt, prev)
			}
			prev = dt
		}
	}
}

// TestStartOffsetAtPartHoldBack checks the hold-back values and EXT-X-START of live media
// playlists: PART-HOLD-BACK at least twice (RFC 8216bis: MUST) and three times (SHOULD)
// the part target, HOLD-BACK at least three target durations, and a start TIME-OFFSET of
// minus two part targets (PRECISE), the least hold-back allowed, so that players start at
// their target latency, PART-HOLD-BACK, once their start-up time has passed (instead of that
// time behind it, or at the last independent part before it); an ended playlist has none.
// (A joining browser held for a fresh keyframe gets one part target: join_test.go.)
func TestStartOffsetAtPartHoldBack(t *testing.T) {
	for _, part := range []time.Duration{200 * time.Millisecond, 333 * time.Millisecond, time.Second} {
		t.Run(part.String(), func(t *testing.T) {
			cfg := Config{SegmentDuration: 2 * time.Second, PartDuration: part, Window: 4}
			s, sv, f := newTestStream(t, cfg, "hi", AudioRendition)
			f.feedUntil(7 * time.Second)
			for _, r := range []string{"hi", AudioRendition} {
				pl := parseMedia(t, mustGet(t, sv, "/hls/room1/"+r+"/index.m3u8"))
				phb, hb := atof(t, pl.control["PART-HOLD-BACK"]), atof(t, pl.control["HOLD-BACK"])
				if phb < 3*pl.partTarget || phb > 3*pl.partTarget+0.002 || hb < float64(3*pl.target) {
					t.Errorf("%s: PART-HOLD-BACK %v, HOLD-BACK %v for PART-TARGET %v, TARGETDURATION %d", r, phb, hb, pl.partTarget, pl.target)
				}
				start := pl.tags["EXT-X-START"]
				if len(start) != 1 {
					t.Fatalf("%s: %d EXT-X-START tags:\n%s", r, len(start), pl.text)
				}
				a := attrs(start[0])
				if off := atof(t, a["TIME-OFFSET"]); off != -2*pl.partTarget || off < -phb || a["PRECISE"] != "YES" {
					t.Errorf("%s: EXT-X-START %q, want TIME-OFFSET=-%v,PRECISE=YES", r, start[0], 2*pl.partTarget)
				}
			}
			s.Close()
			text := mustGet(t, sv, "/hls/room1/hi/index.m3u8")
			if strings.Contains(text, "EXT-X-START") || !strings.Contains(text, "EXT-X-ENDLIST") {
				t.Errorf("ended playlist:\n%s", text)
			}
		})
	}
}

// TestPartsAtTargetDespiteJitter feeds 30 fps video whose decode times jitter by up to 3 ms
// (a publisher's capture clock) with 200 ms parts: six frames add up to a little more than
// PART-TARGET (202 ms) about half the time, and the sixth frame is trimmed into the part
// instead of starting the next one, so parts (but a segment's last) hold six frames, never
// last more than PART-TARGET, and never under 85% of it (RFC 8216bis); the next part starts
// at its own frame's decode time, within the jitter of the previous part's end.
func TestPartsAtTargetDespiteJitter(t *testing.T) {
	cfg := Config{SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, Window: 4}
	s, sv, f := newTestStream(t, cfg, "hi")
	tr := s.track("hi")
	jitter := func(n int) time.Duration { return time.Duration((n*7919)%7-3) * time.Millisecond }
	atTarget, parts := 0, 0
	for _, until := range []time.Duration{9 * time.Second, 17 * time.Second, 25 * time.Second} {
		for {
			i, smp := f.peek()
			if smp.DTS >= until {
				break
			}
			n := f.next[i]
			f.next[i]++
			smp.DTS, smp.PTS = smp.DTS+jitter(n), smp.PTS+jitter(n)
			if err := tr.WriteSample(smp); err != nil {
				t.Fatalf("sample %d: %v", n, err)
			}
		}
		pl := parseMedia(t, mustGet(t, sv, "/hls/room1/hi/index.m3u8"))
		for _, seg := range pl.segments {
			if !seg.complete {
				continue
			}
			var prevEnd uint64
			for j, p := range seg.parts {
				last := j == len(seg.parts)-1
				if p.dur > pl.partTarget || (!last && p.dur < 0.85*pl.partTarget) {
					t.Errorf("segment %d part %d lasts %v, PART-TARGET %v", seg.msn, j, p.dur, pl.partTarget)
				}
				if !last {
					parts++
					if p.dur >= 0.95*pl.partTarget { // six frames, not five
						atTarget++
					}
				}
				ms := moofs(t, []byte(mustGet(t, sv, "/hls/room1/hi/"+p.uri)))
				if len(ms) != 1 {
					t.Fatalf("part %s: %d moofs", p.uri, len(ms))
				}
				start := ms[0].Traf.Tfdt.BaseMediaDecodeTime()
				if gap := int64(start) - int64(prevEnd); j > 0 && (gap < -7*90 || gap > 15*90) {
					t.Errorf("part %s starts %d ticks after the previous part's end", p.uri, gap)
				}
				prevEnd = start + ms[0].Traf.Trun.Duration(0)
			}
		}
	}
	if parts < 40 || atTarget*10 < parts*8 {
		t.Errorf("%d of %d parts (a segment's last left out) hold six frames, want 80%%", atTarget, parts)
	}
}
