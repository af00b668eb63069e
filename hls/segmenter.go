package hls

import (
	"time"
)

// Limits on the step between two samples' DTS: up to maxSampleStep it is the first
// sample's duration; up to maxGap the timeline keeps the gap (a stalled source: tracks stay
// in sync); anything else (backwards, or further) is a jump the track is rebased over.
const (
	maxSampleStep = time.Second
	maxGap        = 10 * time.Second
)

// commitPending packages the pending sample now that the next sample's DTS gives its
// duration. It reports whether a part was published.
func (t *Track) commitPending(nextDTS time.Duration) bool {
	p := t.pending
	t.pending = nil
	step := nextDTS + t.offset - p.media
	dur, gap, jump := step, false, false
	switch {
	case step > 0 && step <= maxSampleStep:
	case step > 0 && step <= maxGap:
		dur, gap = t.fallbackDur(p), true
	default:
		dur, jump = t.fallbackDur(p), true
	}
	// No sample is longer than a part may be: the rest of a longer step is a gap, which the
	// samples after it close (closeGap) up to maxSampleStep.
	dur = min(dur, ticksDur(t.partTicks, t.timescale))
	published := t.appendSample(p, dur)
	if jump {
		t.offset = t.s.rebase(nextDTS, p.media+dur)
		t.log.Warn("hls: timestamps jumped, timeline rebased", "step", step)
	} else if gap && !t.gapCloses(nextDTS+t.offset) {
		t.log.Warn("hls: gap in timestamps kept in the timeline", "gap", step-dur)
	}
	if next := nextDTS + t.offset; next != t.end && !t.gapCloses(next) { // an overlap, a long gap: the next sample needs its own decode time
		published = t.closePart() || published
	}
	return published
}

// commitIfPartFull publishes the part being built as soon as its last sample is in: when
// the pending sample, at its expected duration (the frame interval the source gave, else the
// last one), fits the part and another such sample would not, it is packaged now instead of
// when the next sample brings its duration, a frame interval later. It waits for the next
// sample where that one may start a new segment, so that the preload hint always names the
// part that comes next. It reports whether a part was published.
func (t *Track) commitIfPartFull() bool {
	p := t.pending
	if p == nil || t.cur == nil || t.nearSegmentEnd(p) {
		return false
	}
	dur := min(t.fallbackDur(p), ticksDur(t.partTicks, t.timescale))
	ticks := max(toTicks(p.media+dur, t.timescale)-toTicks(p.media, t.timescale), 1)
	fit, fits := t.fitInPart(t.part.ticks, ticks)
	if _, another := t.fitInPart(t.part.ticks+fit, ticks); !fits || another {
		return false
	}
	t.pending = nil
	t.appendSample(p, dur)
	return t.closePart()
}

// nearSegmentEnd reports whether the sample after p may start a new segment: the segment in
// progress would then be long enough for a keyframe to end it, or it ends at any keyframe
// (it did not start with one).
func (t *Track) nearSegmentEnd(p *pendingSample) bool {
	seg := t.s.cfg.SegmentDuration
	after := ticksDur(t.cur.ticks+t.part.ticks, t.timescale) + 2*t.fallbackDur(p)
	return t.join.cutNext || !t.curIndependent() || after >= seg-seg/20
}

// followEarlyCommit places a sample written after commitIfPartFull packaged the previous one
// with its expected duration: it starts the next part at its own decode time (a jitter of
// less than a frame leaves that small gap or overlap between the two parts' timelines); a
// step back or beyond maxGap is a jump the track is rebased over, as in commitPending.
func (t *Track) followEarlyCommit(dts time.Duration) {
	step := dts + t.offset - t.end
	switch {
	case step > -t.lastDur && step <= maxSampleStep:
	case step > -t.lastDur && step <= maxGap:
		t.log.Warn("hls: gap in timestamps kept in the timeline", "gap", step)
	default:
		t.offset = t.s.rebase(dts, t.end)
		t.log.Warn("hls: timestamps jumped, timeline rebased", "step", step+t.lastDur)
	}
}

// closeGap starts p where the track's last packaged sample ended when it would otherwise
// leave a gap of up to maxSampleStep there. Such a gap comes after a part published with
// its last sample at the expected duration (commitIfPartFull) when the next frame comes
// later (a publisher that skipped a frame, capture jitter), after a frame trimmed to end
// its part at PART-TARGET, or after a step longer than a part (a publisher that stalled).
// A browser's Media Source Extensions treat a decode-time step of more than twice the
// previous frame's duration as a discontinuity and drop every video frame until the next
// keyframe: up to a segment missing from the buffer, a stall that hls.js adds to its
// target latency for good. So p's decode (and presentation) time moves back by the gap;
// its duration, the distance to the next sample, grows by as much (at most a part target:
// the rest is closed by the next sample the same way), and the frames after it keep their
// own times. An overlap (a frame earlier than expected) is left: decode times still increase.
func (t *Track) closeGap(p *pendingSample) {
	if t.gapCloses(p.media) {
		p.media = t.end
	}
}

// gapCloses reports whether a sample at media time next would start where the last
// packaged sample ended, by closeGap.
func (t *Track) gapCloses(next time.Duration) bool {
	gap := next - t.end
	return gap > 0 && gap <= maxSampleStep
}

// fallbackDur is a sample's duration where the next DTS does not give it.
func (t *Track) fallbackDur(p *pendingSample) time.Duration {
	switch {
	case p.Duration > 0 && p.Duration <= maxSampleStep:
		return p.Duration
	case t.lastDur > 0:
		return t.lastDur
	}
	return t.defaultDur
}

// appendSample adds a packaged sample to the part being built, publishing that part first
// if the sample does not fit in it (fitInPart).
func (t *Track) appendSample(p *pendingSample, dur time.Duration) bool {
	start := toTicks(p.media, t.timescale)
	ticks := min(max(toTicks(p.media+dur, t.timescale)-start, 1), t.partTicks)
	published, end := false, p.media+dur
	fit, fits := t.fitInPart(t.part.ticks, ticks)
	if !fits {
		published = t.closePart()
	} else if fit < ticks { // trimmed to end the part at PART-TARGET exactly
		ticks, end = fit, p.media+ticksDur(fit, t.timescale)
	}
	sync := t.audio || p.Keyframe
	if len(t.part.samples) == 0 {
		t.part.independent = sync
	}
	cto := int64(toTicks((p.PTS - p.DTS).Abs(), t.timescale))
	if p.PTS < p.DTS {
		cto = -cto
	}
	t.part.samples = append(t.part.samples, fullSample(p.Data, start, uint32(ticks), int32(cto), sync))
	t.part.captures = append(t.part.captures, p.CaptureTime)
	t.part.ticks += ticks
	t.lastDur, t.end = dur, end
	return published
}

// partEnds reports whether the part being built should be published before p: p would not
// fit (judged by its expected duration), or p is a keyframe that can start an independent
// part without leaving one shorter than 85% of the part target.
func (t *Track) partEnds(p *pendingSample) bool {
	if len(t.part.samples) == 0 {
		return false
	}
	if !t.audio && p.Keyframe && t.part.ticks*100 >= t.partTicks*85 {
		return true
	}
	_, fits := t.fitInPart(t.part.ticks, toTicks(t.fallbackDur(p), t.timescale))
	return !fits
}

// partJitter is the share of a video frame's duration (1/partJitter) by which a part's last
// frame may overshoot the part target and still join it, trimmed to end the part at the
// target: a publisher's capture timestamps jitter by a few milliseconds, so six frames of a
// 30 fps source add up to a little more than 200 ms half the time, and without this every
// such part would close a frame early, at 167 ms (under RFC 8216bis's 85% of PART-TARGET).
const partJitter = 4

// fitInPart returns how many ticks a sample of the given length takes in a part already
// holding used ticks, and whether it joins that part at all: its own length when it fits,
// what is left of the part target when it is a video frame overshooting that by no more than
// a jitter (1/partJitter of the frame; the next frame starts at its own decode time, that
// little later), else it starts the next part.
func (t *Track) fitInPart(used, ticks uint64) (uint64, bool) {
	switch {
	case used == 0 || used+ticks <= t.partTicks:
		return ticks, true
	case !t.audio && used < t.partTicks && (used+ticks-t.partTicks)*partJitter <= ticks:
		return t.partTicks - used, true
	}
	return ticks, false
}

// segmentEnds reports whether the segment in progress should end before p.
func (t *Track) segmentEnds(p *pendingSample) bool {
	ticks := t.cur.ticks + t.part.ticks
	if ticks == 0 {
		return false
	}
	cfg := t.s.cfg
	dur, next := ticksDur(ticks, t.timescale), t.fallbackDur(p)
	if dur+next > t.s.maxSegment {
		t.log.Debug("hls: segment cut at its longest, without a keyframe", "msn", t.cur.msn)
		return true
	}
	isLeader, hasVideo := t.s.leader(t)
	switch {
	case !isLeader && hasVideo && t.s.leaderActive(p.media):
		return (t.audio || p.Keyframe) && t.s.crossedBoundary(t.cur.start, p.media)
	case t.audio:
		return dur+next/2 >= cfg.SegmentDuration
	default:
		return p.Keyframe && (t.join.cutNext || dur >= cfg.SegmentDuration-cfg.SegmentDuration/20 || !t.curIndependent())
	}
}

// curIndependent reports whether the segment in progress starts with a keyframe. One that
// does not (it was cut at its longest) ends at the next keyframe, short or not, so that the
// segments after it start with keyframes again instead of every one being cut without.
func (t *Track) curIndependent() bool {
	if len(t.cur.parts) > 0 {
		return t.cur.parts[0].independent
	}
	return t.part.independent
}

// startSegment opens the next segment with p as its first sample.
func (t *Track) startSegment(p *pendingSample) {
	seg := &segment{
		msn:   t.nextMSN,
		init:  t.init,
		start: p.media,
	}
	if gen := t.s.discGeneration(); len(t.segs) > 0 && (t.discNext || gen > t.discGen) {
		seg.disc, t.discGen = true, gen
		t.dseq++
	}
	seg.pdt = t.s.programDateTime(p.media, p.CaptureTime, seg.disc)
	t.discNext, t.join.cutNext = false, false
	seg.dseq = t.dseq
	t.cur, t.nextMSN = seg, t.nextMSN+1
	if isLeader, _ := t.s.leader(t); isLeader {
		t.s.addBoundary(p.media, seg.msn, seg.dseq)
	}
}

// closePart publishes the part being built as a moof+mdat fragment of the current segment.
func (t *Track) closePart() bool {
	if len(t.part.samples) == 0 || t.cur == nil {
		return false
	}
	data, err := encodeFragment(t.fragSeq, t.part.samples)
	if emsg := t.takeMarks(t.part.samples[0].DecodeTime + t.part.ticks); err == nil && emsg != nil {
		data = append(emsg, data...) // before the moof: its data offsets are moof-relative
	}
	t.fragSeq++
	b := t.part
	t.part = partBuilder{samples: t.part.samples[:0], captures: t.part.captures[:0]}
	clear(b.samples)
	if err != nil {
		t.log.Error("hls: dropping a part", "msn", t.cur.msn, "err", err)
		return false
	}
	t.cur.parts = append(t.cur.parts, part{data: data, ticks: b.ticks, independent: b.independent})
	t.notePublished(t.cur.start+ticksDur(t.cur.ticks, t.timescale), ticksDur(b.ticks, t.timescale), b.independent)
	t.cur.ticks += b.ticks
	t.cur.size += len(data)
	t.notePartLatency(b.captures)
	t.tellPart(t.cur)
	return true
}

// finishSegment completes the segment in progress and drops segments past retention:
// twice the window, so a segment stays downloadable for the playlist's duration after it
// left the playlist (RFC 8216bis 6.2.2).
func (t *Track) finishSegment() {
	t.closePart()
	seg := t.cur
	t.cur = nil
	if seg == nil {
		return
	}
	if len(seg.parts) == 0 {
		t.nextMSN = seg.msn
		return
	}
	seg.data = make([]byte, 0, seg.size)
	for i := range seg.parts {
		off := len(seg.data)
		seg.data = append(seg.data, seg.parts[i].data...)
		seg.parts[i].data = seg.data[off:len(seg.data):len(seg.data)]
	}
	seg.complete = true
	var prevInit *initSection
	if len(t.segs) == 0 {
		t.s.trackReady()
	} else {
		prevInit = t.segs[len(t.segs)-1].init
	}
	t.segs = append(t.segs, seg)
	if keep := 2 * t.s.cfg.Window; len(t.segs) > keep {
		n := len(t.segs) - keep
		clear(t.segs[:n])
		t.segs = append(t.segs[:0], t.segs[n:]...)
	}
	t.s.broadcast()
	t.tellSegment(seg, prevInit)
}

// flush packages the pending sample with its fallback duration and completes the segment.
func (t *Track) flush() {
	if t.pending != nil {
		p := t.pending
		t.pending = nil
		t.appendSample(p, min(t.fallbackDur(p), ticksDur(t.partTicks, t.timescale)))
	}
	t.finishSegment()
}
