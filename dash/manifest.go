package dash

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
)

// Profiles the manifest conforms to: live (SegmentTemplate) and CMAF fragments.
const profiles = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"

// UTCTimingScheme is the UTCTiming scheme of the time endpoint: an ISO 8601 date-time.
const UTCTimingScheme = "urn:mpeg:dash:utc:http-iso:2014"

// manifestInput is what one MPD is rendered from.
type manifestInput struct {
	views   []hls.TrackView
	timing  hls.StreamTiming
	now     time.Time
	timeURL string // absolute URL of the time endpoint
	// behind, when set, gives the DVR's segments to list before a view's (reachBack), over
	// dvrWindow: then the timeline reaches back over it and timeShiftBufferDepth is it.
	behind    func(hls.TrackView) []hls.SegmentView
	dvrWindow time.Duration
}

// buildMPD renders the room's dynamic MPD: one Period, the video ladder in one
// AdaptationSet and audio in another, each Representation with a SegmentTimeline of the
// listed HLS segments (and the one being written) addressed by $Number$.
func buildMPD(in manifestInput) (*MPD, error) {
	anchor, ok := anchorView(in.views)
	if !ok {
		return nil, fmt.Errorf("no complete segment yet")
	}
	seg := anchor.Segments[len(anchor.Segments)-1]
	// Media time 0 on the wall clock: segment times + availabilityStartTime = capture times.
	ast := seg.ProgramDateTime.Add(-ticksDur(seg.Start, anchor.Timescale)).Truncate(time.Millisecond)
	tm := in.timing
	window := time.Duration(tm.Window) * tm.SegmentDuration
	if in.behind != nil {
		window = max(window, in.dvrWindow)
	}
	maxSeg := tm.SegmentDuration + tm.SegmentDuration/2 // segments are cut at source keyframes
	m := &MPD{
		Profiles:              profiles,
		Type:                  "dynamic",
		AvailabilityStartTime: xsDateTime(ast),
		PublishTime:           xsDateTime(in.now),
		MinimumUpdatePeriod:   xsDuration(updatePeriod(tm)),
		TimeShiftBufferDepth:  xsDuration(window),
		MaxSegmentDuration:    xsDuration(maxSeg.Round(time.Millisecond)),
		MinBufferTime:         xsDuration(tm.SegmentDuration),
		ServiceDescription:    serviceDescription(tm),
		UTCTiming:             []Descriptor{{SchemeIDURI: UTCTimingScheme, Value: in.timeURL}},
	}
	period := Period{ID: "0", Start: "PT0S"}
	var video, audio []Representation
	ended := true
	for _, v := range in.views {
		ended = ended && v.Ended
		var behind []hls.SegmentView
		if in.behind != nil {
			behind = in.behind(v)
		}
		rep := representation(v, behind, tm)
		if v.Audio {
			audio = append(audio, rep)
		} else {
			video = append(video, rep)
		}
	}
	if len(video) > 0 {
		period.AdaptationSets = append(period.AdaptationSets, AdaptationSet{ID: 0, ContentType: "video",
			MimeType: "video/mp4", SegmentAlignment: true, StartWithSAP: 1, Representations: video})
	}
	if len(audio) > 0 {
		period.AdaptationSets = append(period.AdaptationSets, AdaptationSet{ID: 1, ContentType: "audio",
			MimeType: "audio/mp4", SegmentAlignment: true, StartWithSAP: 1, Representations: audio})
	}
	m.Periods = []Period{period}
	if ended { // the room stopped: nothing more will come, stop polling
		m.MinimumUpdatePeriod = ""
	}
	return m, nil
}

// anchorView is the track the wall clock is anchored on: the leading video rendition
// (the first listed), else audio.
func anchorView(views []hls.TrackView) (hls.TrackView, bool) {
	for _, v := range views {
		if len(v.Segments) > 0 {
			return v, true
		}
	}
	return hls.TrackView{}, false
}

// updatePeriod is how often players reload the MPD: a quarter segment, so that the next
// segment is listed soon after the one being written completes.
func updatePeriod(tm hls.StreamTiming) time.Duration {
	return max(tm.SegmentDuration/4, tm.PartTarget).Round(10 * time.Millisecond)
}

// serviceDescription sets the latency a low-latency player aims for: three parts (one
// being written, one in flight, one buffered) plus half a second of jitter margin. The
// playback rate may go 10% up to catch up (a player that fell behind after a stall gets back
// within seconds, not the half minute ±4% takes) and 5% down to avoid stalling.
func serviceDescription(tm hls.StreamTiming) *ServiceDescription {
	target := 3*tm.PartTarget + 500*time.Millisecond
	return &ServiceDescription{
		ID:           "0",
		Latency:      &Latency{ReferenceID: "0", Target: int(target.Milliseconds()), Min: int((target / 2).Milliseconds()), Max: int((3 * target).Milliseconds())},
		PlaybackRate: &PlaybackRate{Min: 0.95, Max: 1.1},
	}
}

// representation describes one track with its segment timeline: the archived segments
// behind (the DVR window, possibly none), then the listed ones and the one being written.
func representation(v hls.TrackView, behind []hls.SegmentView, tm hls.StreamTiming) Representation {
	rep := Representation{ID: v.Rendition, Bandwidth: max(v.Bandwidth, 1), Codecs: v.Codec}
	if v.Audio {
		rep.AudioSamplingRate = v.SampleRate
		rep.AudioChannels = &Descriptor{SchemeIDURI: "urn:mpeg:dash:23003:3:audio_channel_configuration:2011",
			Value: strconv.Itoa(v.Channels)}
	} else {
		rep.Width, rep.Height = v.Width, v.Height
		if v.FPS > 0 {
			rep.FrameRate = frameRate(v.FPS)
		}
	}
	segs := v.Segments
	if len(behind) > 0 {
		segs = append(behind[:len(behind):len(behind)], v.Segments...)
	}
	st := SegmentTemplate{
		Timescale:      v.Timescale,
		Initialization: fmt.Sprintf("%s/init%d.mp4", v.Rendition, v.InitID),
		Media:          v.Rendition + "/seg$Number$.m4s",
		StartNumber:    segs[0].MSN,
		Timeline:       &SegmentTimeline{},
	}
	if !v.Ended {
		// Every segment of a live stream is served chunked from its first part on, which
		// availabilityTimeOffset tells the player — also in the moment between a segment's
		// end and the next one's first part, when no segment is being written.
		ato := tm.SegmentDuration - tm.PartTarget
		st.AvailabilityTimeOffset = strconv.FormatFloat(ato.Seconds(), 'f', 3, 64)
		st.AvailabilityTimeComplete = "false"
	}
	if v.Live != nil && !v.Ended {
		// The segment being written is listed with its expected length.
		live := *v.Live
		live.Ticks = listedLength(live, v.Timescale, tm)
		segs = append(segs[:len(segs):len(segs)], live)
	}
	st.Timeline.S = timeline(segs)
	rep.SegmentTemplate = st
	return rep
}

// listedLength is the length (ticks) the segment being written is listed with: the nominal
// segment duration, or what it has so far plus a part when that is longer.
func listedLength(live hls.SegmentView, timescale uint32, tm hls.StreamTiming) uint64 {
	return max(live.Ticks+toTicks(tm.PartTarget, timescale), toTicks(tm.SegmentDuration, timescale))
}

// timeline turns segments (consecutive numbers) into S runs: t where a segment does not
// start where the previous ended (a gap), r for repeats of the same duration.
func timeline(segs []hls.SegmentView) []S {
	var out []S
	var end uint64
	for i, seg := range segs {
		if i > 0 && seg.Start == end {
			if last := &out[len(out)-1]; last.D == seg.Ticks {
				last.R++
				end += seg.Ticks
				continue
			}
			out = append(out, S{D: seg.Ticks})
		} else {
			t := seg.Start
			out = append(out, S{T: &t, D: seg.Ticks})
		}
		end = seg.Start + seg.Ticks
	}
	return out
}

// frameRate writes fps as an integer or a fraction over 1001 (29.97) or 1000.
func frameRate(fps float64) string {
	if r := float64(int(fps + 0.5)); math.Abs(fps-r) < 0.001 {
		return strconv.Itoa(int(r))
	}
	if n := fps * 1001 / 1000; math.Abs(n-float64(int(n+0.5))) < 0.01 {
		return fmt.Sprintf("%d/1001", int(n+0.5)*1000)
	}
	return fmt.Sprintf("%d/1000", int(fps*1000+0.5))
}

func toTicks(d time.Duration, timescale uint32) uint64 {
	return uint64(max(media.Ticks(d, timescale), 0))
}

func ticksDur(ticks uint64, timescale uint32) time.Duration {
	return media.Duration(int64(ticks), timescale)
}
