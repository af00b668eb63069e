package dvr

import (
	"fmt"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// movieTimescale is the mvhd timescale of clip MP4s (milliseconds).
const movieTimescale = 1000

// buildMoov returns the progressive moov of the tracks written and the movie's duration.
// Each track starts from its first init segment's trak (its sample entries, one per init
// segment met); a track that starts later than the earliest one (audio a few ms after
// video, as segmented) gets an empty edit so the two stay in sync.
func buildMoov(tracks []*mp4Track) (*mp4.MoovBox, time.Duration, error) {
	var earliest time.Duration = -1
	for _, t := range tracks {
		if len(t.sizes) > 0 && (earliest < 0 || t.start() < earliest) {
			earliest = t.start()
		}
	}
	moov := mp4.NewMoovBox()
	mvhd := mp4.CreateMvhd()
	mvhd.Timescale = movieTimescale
	moov.AddChild(mvhd)
	var longest time.Duration
	id := uint32(0)
	for _, t := range tracks {
		if len(t.sizes) == 0 {
			continue
		}
		id++
		delay := t.start() - earliest
		trak, err := t.trak(id, delay)
		if err != nil {
			return nil, 0, err
		}
		moov.AddChild(trak)
		longest = max(longest, delay+t.duration())
	}
	if id == 0 {
		return nil, 0, fmt.Errorf("no samples in the clip's segments")
	}
	mvhd.NextTrackID = id + 1
	mvhd.Duration = movieTicks(longest)
	return moov, longest, nil
}

// start is the media time of the track's first sample.
func (t *mp4Track) start() time.Duration { return ticksDuration(t.firstDTS, t.timescale) }

// duration is the sum of the track's sample durations.
func (t *mp4Track) duration() time.Duration { return ticksDuration(t.total, t.timescale) }

func ticksDuration(ticks uint64, timescale uint32) time.Duration {
	return time.Duration(float64(ticks) / float64(timescale) * float64(time.Second))
}

func movieTicks(d time.Duration) uint64 { return uint64(d.Milliseconds()) }

// trak returns the track's trak box: numbered id, delayed by an empty edit of delay.
func (t *mp4Track) trak(id uint32, delay time.Duration) (*mp4.TrakBox, error) {
	src := t.initBoxes[0].Moov.Trak
	src.Tkhd.TrackID = id
	src.Tkhd.Duration = movieTicks(delay + t.duration())
	src.Mdia.Mdhd.Duration = t.total
	stbl, err := t.stbl()
	if err != nil {
		return nil, err
	}
	minf := src.Mdia.Minf
	for i, child := range minf.Children {
		if _, ok := child.(*mp4.StblBox); ok {
			minf.Children[i] = stbl
		}
	}
	minf.Stbl = stbl
	trak := mp4.NewTrakBox()
	trak.AddChild(src.Tkhd)
	if delay >= time.Millisecond {
		edts := &mp4.EdtsBox{}
		edts.AddChild(&mp4.ElstBox{Entries: []mp4.ElstEntry{
			{SegmentDuration: movieTicks(delay), MediaTime: -1, MediaRateInteger: 1},
			{SegmentDuration: movieTicks(t.duration()), MediaTime: 0, MediaRateInteger: 1},
		}})
		trak.AddChild(edts)
	}
	trak.AddChild(src.Mdia)
	return trak, nil
}

// stbl returns the sample tables of the samples written.
func (t *mp4Track) stbl() (*mp4.StblBox, error) {
	stsd := t.initBoxes[0].Moov.Trak.Mdia.Minf.Stbl.Stsd
	for _, init := range t.initBoxes[1:] {
		stsd.Children = append(stsd.Children, init.Moov.Trak.Mdia.Minf.Stbl.Stsd.Children...)
	}
	stsd.SampleCount = uint32(len(stsd.Children))
	stbl := mp4.NewStblBox()
	stbl.AddChild(stsd)
	stts := &mp4.SttsBox{}
	for _, d := range t.durs {
		if n := len(stts.SampleTimeDelta); n > 0 && stts.SampleTimeDelta[n-1] == d {
			stts.SampleCount[n-1]++
			continue
		}
		stts.SampleCount, stts.SampleTimeDelta = append(stts.SampleCount, 1), append(stts.SampleTimeDelta, d)
	}
	stbl.AddChild(stts)
	if ctts := t.ctts(); ctts != nil {
		stbl.AddChild(ctts)
	}
	stsc := &mp4.StscBox{}
	var last mp4Chunk
	for i, c := range t.chunks {
		if i > 0 && last.samples == c.samples && last.description == c.description {
			continue
		}
		last = c
		if err := stsc.AddEntry(uint32(i+1), c.samples, c.description); err != nil {
			return nil, err
		}
	}
	stbl.AddChild(stsc)
	stbl.AddChild(&mp4.StszBox{SampleNumber: uint32(len(t.sizes)), SampleSize: t.sizes})
	if len(t.syncs) < len(t.sizes) {
		stbl.AddChild(&mp4.StssBox{SampleNumber: t.syncs})
	}
	co64 := &mp4.Co64Box{ChunkOffset: make([]uint64, len(t.chunks))}
	for i, c := range t.chunks {
		co64.ChunkOffset[i] = c.offset
	}
	stbl.AddChild(co64)
	return stbl, nil
}

// ctts returns the composition offsets, or nil when every one is zero.
func (t *mp4Track) ctts() *mp4.CttsBox {
	nonZero := false
	for _, o := range t.ctos {
		nonZero = nonZero || o != 0
	}
	if !nonZero {
		return nil
	}
	ctts := &mp4.CttsBox{}
	var counts []uint32
	var offsets []int32
	for _, o := range t.ctos {
		if n := len(offsets); n > 0 && offsets[n-1] == o {
			counts[n-1]++
			continue
		}
		counts, offsets = append(counts, 1), append(offsets, o)
		if o < 0 {
			ctts.Version = 1
		}
	}
	if err := ctts.AddSampleCountsAndOffset(counts, offsets); err != nil {
		return nil
	}
	return ctts
}
