package dvr

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// startMP4 makes the clip's MP4 in the background (at most ClipWorkers at once), holding
// the recording while it reads; it gives back the job's place in h.queued, which the
// caller took.
func (h *Handler) startMP4(c *clipEntry) {
	h.jobMu.Lock()
	if h.ctx.Err() != nil {
		h.jobMu.Unlock()
		<-h.queued
		c.finish(0, 0, fmt.Errorf("the DVR is closing"))
		return
	}
	h.wg.Add(1)
	h.jobMu.Unlock()
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	c.mu.Lock()
	c.cancel, c.jobDone = cancel, done
	c.mu.Unlock()
	go func() {
		defer h.wg.Done()
		defer close(done)
		defer cancel()
		defer func() { <-h.queued }()
		select {
		case h.work <- struct{}{}:
			defer func() { <-h.work }()
		case <-ctx.Done():
			c.finish(0, 0, ctx.Err())
			return
		}
		c.setProgress(clipRunning, 0)
		start := time.Now()
		size, dur, err := h.writeClipMP4(ctx, c)
		c.finish(size, dur, err)
		if err != nil {
			h.log.Warn("dvr: clip MP4 failed", "clip", c.id, "err", err)
			return
		}
		h.log.Info("dvr: clip MP4 done", "clip", c.id, "bytes", size, "duration", dur, "took", time.Since(start))
	}()
}

// finish records the MP4 job's outcome.
func (c *clipEntry) finish(size int64, dur time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.status, c.err = clipFailed, err.Error()
		return
	}
	c.status, c.progress, c.bytes, c.duration = clipDone, 1, size, dur
}

// writeClipMP4 remuxes the clip's top video rendition (and the audio rendition) into one
// progressive MP4 at c.mp4Path, through a temporary file renamed into place. It starts at
// the keyframe that begins the clip's first segment (at most a GOP before the start asked)
// and ends at the end asked: the samples after it are dropped (a suffix in decode order,
// so no frame kept loses a reference), and audio is trimmed to the same span. An accurate
// clip starts on the frame at or after the start asked instead (clip_accurate.go).
func (h *Handler) writeClipMP4(ctx context.Context, c *clipEntry) (int64, time.Duration, error) {
	release, err := h.opts.Catalog.Hold(c.recording.ID)
	if err != nil {
		return 0, 0, fmt.Errorf("hold recording %s: %w", c.recording.ID, err)
	}
	defer release()
	var chosen []string
	if c.top != audioRendition {
		chosen = append(chosen, c.top)
	}
	if _, ok := c.segs[audioRendition]; ok {
		chosen = append(chosen, audioRendition)
	}
	if err := os.MkdirAll(h.opts.ClipDir, 0o755); err != nil {
		return 0, 0, fmt.Errorf("clip directory: %w", err)
	}
	tmp, err := os.CreateTemp(h.opts.ClipDir, c.id+".*.tmp")
	if err != nil {
		return 0, 0, fmt.Errorf("clip file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	m := &mp4Muxer{catalog: h.opts.Catalog, out: tmp, to: c.to, from: c.from,
		accurate: c.accurate && len(chosen) > 0 && chosen[0] != audioRendition}
	if !m.accurate && len(chosen) > 0 {
		m.from = c.segs[chosen[0]][0].PDT // the first video keyframe at or before the start
	}
	dur, err := m.mux(ctx, chosen, c.segs, func(p float64) { c.setProgress(clipRunning, p) })
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("clip file: %w", cerr)
	}
	if err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmp.Name(), filepath.Clean(c.mp4Path)); err != nil {
		return 0, 0, fmt.Errorf("clip file: %w", err)
	}
	return m.written, dur, nil
}

// mp4Track is one track of the MP4 being written: its samples' tables.
type mp4Track struct {
	inits     map[string]uint32 // init key → sample description index (from 1)
	initBoxes []*mp4.InitSegment
	timescale uint32
	firstDTS  uint64
	started   bool
	sizes     []uint32
	durs      []uint32
	ctos      []int32
	syncs     []uint32 // sample numbers from 1
	chunks    []mp4Chunk
	total     uint64 // duration in timescale ticks
}

// mp4Chunk is one segment's samples, contiguous in the mdat.
type mp4Chunk struct {
	offset      uint64
	samples     uint32
	description uint32
}

// mp4Muxer writes ftyp, one mdat (64-bit size, patched at the end) and the moov last,
// keeping the samples that start in [from, to) on the wall clock.
type mp4Muxer struct {
	catalog  Catalog
	out      *os.File
	written  int64
	from, to time.Time
	// accurate: the first track is video, its first segment re-encoded from from on
	// (clip_accurate.go).
	accurate bool
}

// mux writes the renditions' segments, interleaved by time, and returns the duration.
func (m *mp4Muxer) mux(ctx context.Context, renditions []string, segs map[string][]Segment, progress func(float64)) (time.Duration, error) {
	ftyp := mp4.NewFtyp("isom", 0x200, []string{"isom", "iso2", "avc1", "mp41"})
	var head bytes.Buffer
	if err := ftyp.Encode(&head); err != nil {
		return 0, err
	}
	mdatStart := int64(head.Len())
	head.Write([]byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 0}) // largesize patched below
	if err := m.write(head.Bytes()); err != nil {
		return 0, err
	}
	tracks := make([]*mp4Track, len(renditions))
	type job struct {
		track int
		seg   Segment
	}
	var jobs []job
	for i, r := range renditions {
		tracks[i] = &mp4Track{inits: map[string]uint32{}}
		for _, s := range segs[r] {
			jobs = append(jobs, job{i, s})
		}
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].seg.PDT.Before(jobs[b].seg.PDT) })
	headDone := false
	for n, j := range jobs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		add := m.addSegment
		if m.accurate && j.track == 0 && !headDone {
			add, headDone = m.addHead, true
		}
		if err := add(ctx, tracks[j.track], j.seg); err != nil {
			return 0, fmt.Errorf("segment %s: %w", j.seg.Key, err)
		}
		progress(float64(n+1) / float64(len(jobs)))
	}
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(m.written-mdatStart))
	if _, err := m.out.WriteAt(size[:], mdatStart+8); err != nil {
		return 0, err
	}
	moov, dur, err := buildMoov(tracks)
	if err != nil {
		return 0, err
	}
	var tail bytes.Buffer
	if err := moov.Encode(&tail); err != nil {
		return 0, err
	}
	return dur, m.write(tail.Bytes())
}

func (m *mp4Muxer) write(b []byte) error {
	n, err := m.out.Write(b)
	m.written += int64(n)
	if err != nil {
		return fmt.Errorf("clip file: %w", err)
	}
	return nil
}

// addSegment appends one stored segment's samples to the mdat and to t's tables.
func (m *mp4Muxer) addSegment(ctx context.Context, t *mp4Track, seg Segment) error {
	desc, err := m.initFor(ctx, t, seg.InitKey)
	if err != nil {
		return err
	}
	samples, err := m.segmentSamples(ctx, seg.Key, t.initBoxes[desc-1].Moov.Mvex.Trex)
	if err != nil {
		return err
	}
	return m.writeChunk(t, desc, seg.PDT, samples)
}

// initFor returns the sample description index of an init segment in t, reading it the
// first time.
func (m *mp4Muxer) initFor(ctx context.Context, t *mp4Track, key string) (uint32, error) {
	if desc, ok := t.inits[key]; ok {
		return desc, nil
	}
	data, err := m.catalog.Read(ctx, key)
	if err != nil {
		return 0, err
	}
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil || f.Init == nil || f.Init.Moov.Trak == nil || f.Init.Moov.Mvex == nil {
		return 0, fmt.Errorf("init segment %s: not a fragmented MP4 init (%v)", key, err)
	}
	if err := t.addInit(f.Init); err != nil {
		return 0, fmt.Errorf("init segment %s: %w", key, err)
	}
	t.inits[key] = uint32(len(t.initBoxes))
	return t.inits[key], nil
}

// addInit adds a sample description to the track.
func (t *mp4Track) addInit(init *mp4.InitSegment) error {
	scale := init.Moov.Trak.Mdia.Mdhd.Timescale
	if t.timescale != 0 && scale != t.timescale {
		return fmt.Errorf("timescale changes from %d to %d", t.timescale, scale)
	}
	t.timescale = scale
	t.initBoxes = append(t.initBoxes, init)
	return nil
}

// segmentSamples reads and parses a stored segment.
func (m *mp4Muxer) segmentSamples(ctx context.Context, key string, trex *mp4.TrexBox) ([]mp4.FullSample, error) {
	data, err := m.catalog.Read(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var all []mp4.FullSample
	for _, ms := range f.Segments {
		for _, frag := range ms.Fragments {
			samples, err := frag.GetFullSamples(trex)
			if err != nil {
				return nil, err
			}
			all = append(all, samples...)
		}
	}
	return all, nil
}

// writeChunk writes the samples of one segment that start within [m.from, m.to) as a chunk
// of sample description desc; pdt is the wall-clock time of the first sample.
func (m *mp4Muxer) writeChunk(t *mp4Track, desc uint32, pdt time.Time, samples []mp4.FullSample) error {
	chunk := mp4Chunk{offset: uint64(m.written), description: desc}
	for _, s := range samples {
		wall := pdt.Add(ticksDuration(s.DecodeTime-samples[0].DecodeTime, t.timescale))
		if wall.Before(m.from) || !wall.Before(m.to) {
			continue
		}
		if err := m.write(s.Data); err != nil {
			return err
		}
		t.addSample(s)
		chunk.samples++
	}
	if chunk.samples > 0 {
		t.chunks = append(t.chunks, chunk)
	}
	return nil
}

// addSample records one sample in the track's tables.
func (t *mp4Track) addSample(s mp4.FullSample) {
	if !t.started {
		t.firstDTS, t.started = s.DecodeTime, true
	}
	t.sizes = append(t.sizes, uint32(len(s.Data)))
	t.durs = append(t.durs, s.Dur)
	t.ctos = append(t.ctos, s.CompositionTimeOffset)
	if s.IsSync() {
		t.syncs = append(t.syncs, uint32(len(t.sizes)))
	}
	t.total += uint64(s.Dur)
}
