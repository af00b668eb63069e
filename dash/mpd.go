package dash

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The MPD's elements, as far as Glint writes them (ISO/IEC 23009-1 5th edition, with the
// DASH-IF low-latency additions). Marshalled to write a manifest; tests unmarshal into the
// same types.

// MPD is the root element of a dynamic (live) manifest.
type MPD struct {
	XMLName                   xml.Name            `xml:"urn:mpeg:dash:schema:mpd:2011 MPD"`
	Profiles                  string              `xml:"profiles,attr"`
	Type                      string              `xml:"type,attr"`
	AvailabilityStartTime     string              `xml:"availabilityStartTime,attr"`
	PublishTime               string              `xml:"publishTime,attr"`
	MinimumUpdatePeriod       string              `xml:"minimumUpdatePeriod,attr,omitempty"`
	TimeShiftBufferDepth      string              `xml:"timeShiftBufferDepth,attr"`
	MaxSegmentDuration        string              `xml:"maxSegmentDuration,attr"`
	MinBufferTime             string              `xml:"minBufferTime,attr"`
	MediaPresentationDuration string              `xml:"mediaPresentationDuration,attr,omitempty"`
	ServiceDescription        *ServiceDescription `xml:"ServiceDescription"`
	Periods                   []Period            `xml:"Period"`
	UTCTiming                 []Descriptor        `xml:"UTCTiming"`
}

// ServiceDescription carries the latency target and playback-rate bounds a low-latency
// player steers by.
type ServiceDescription struct {
	ID           string        `xml:"id,attr"`
	Latency      *Latency      `xml:"Latency"`
	PlaybackRate *PlaybackRate `xml:"PlaybackRate"`
}

// Latency is in milliseconds.
type Latency struct {
	ReferenceID string `xml:"referenceId,attr"`
	Target      int    `xml:"target,attr"`
	Min         int    `xml:"min,attr"`
	Max         int    `xml:"max,attr"`
}

// PlaybackRate bounds the catch-up speed.
type PlaybackRate struct {
	Min float64 `xml:"min,attr"`
	Max float64 `xml:"max,attr"`
}

// Descriptor is a schemeIdUri/value pair (UTCTiming).
type Descriptor struct {
	SchemeIDURI string `xml:"schemeIdUri,attr"`
	Value       string `xml:"value,attr"`
}

// Period is the one period of a live room.
type Period struct {
	ID             string          `xml:"id,attr"`
	Start          string          `xml:"start,attr"`
	AdaptationSets []AdaptationSet `xml:"AdaptationSet"`
}

// AdaptationSet groups the interchangeable Representations: the video ladder, or audio.
type AdaptationSet struct {
	ID               int              `xml:"id,attr"`
	ContentType      string           `xml:"contentType,attr"`
	MimeType         string           `xml:"mimeType,attr"`
	SegmentAlignment bool             `xml:"segmentAlignment,attr"`
	StartWithSAP     int              `xml:"startWithSAP,attr"`
	Lang             string           `xml:"lang,attr,omitempty"`
	Representations  []Representation `xml:"Representation"`
}

// Representation is one rendition of the ladder, or the audio.
type Representation struct {
	ID                string          `xml:"id,attr"`
	Bandwidth         int             `xml:"bandwidth,attr"`
	Codecs            string          `xml:"codecs,attr"`
	Width             int             `xml:"width,attr,omitempty"`
	Height            int             `xml:"height,attr,omitempty"`
	FrameRate         string          `xml:"frameRate,attr,omitempty"`
	AudioSamplingRate int             `xml:"audioSamplingRate,attr,omitempty"`
	AudioChannels     *Descriptor     `xml:"AudioChannelConfiguration"`
	SegmentTemplate   SegmentTemplate `xml:"SegmentTemplate"`
}

// SegmentTemplate addresses segments by number: seg$Number$.m4s is the HLS segment of
// that media sequence number.
type SegmentTemplate struct {
	Timescale                uint32           `xml:"timescale,attr"`
	Initialization           string           `xml:"initialization,attr"`
	Media                    string           `xml:"media,attr"`
	StartNumber              uint64           `xml:"startNumber,attr"`
	PresentationTimeOffset   uint64           `xml:"presentationTimeOffset,attr"`
	AvailabilityTimeOffset   string           `xml:"availabilityTimeOffset,attr,omitempty"`
	AvailabilityTimeComplete string           `xml:"availabilityTimeComplete,attr,omitempty"`
	Timeline                 *SegmentTimeline `xml:"SegmentTimeline"`
}

// SegmentTimeline lists the segments' times; S elements with equal durations are merged
// with r (repeat count).
type SegmentTimeline struct {
	S []S `xml:"S"`
}

// S is one run of segments: start time t (omitted when it follows the previous run),
// duration d, and r more of the same duration.
type S struct {
	T *uint64 `xml:"t,attr"`
	D uint64  `xml:"d,attr"`
	R int     `xml:"r,attr,omitempty"`
}

// TimelineSegment is one segment a SegmentTemplate lists: its $Number$, its start (t) and
// duration (d) in the template's timescale.
type TimelineSegment struct{ Number, T, D uint64 }

// Segments lists the segments of the template's SegmentTimeline in order, numbered from
// startNumber (what a player reads from it).
func (st SegmentTemplate) Segments() []TimelineSegment {
	if st.Timeline == nil {
		return nil
	}
	var out []TimelineSegment
	var next uint64
	for _, s := range st.Timeline.S {
		if s.T != nil {
			next = *s.T
		}
		for range s.R + 1 {
			out = append(out, TimelineSegment{Number: st.StartNumber + uint64(len(out)), T: next, D: s.D})
			next += s.D
		}
	}
	return out
}

// xsDuration writes d as an xs:duration in seconds, e.g. PT1.5S.
func xsDuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}

// ParseDuration reads an xs:duration of the PT…H…M…S form Glint writes and players expect.
func ParseDuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(s, "PT")
	if !ok {
		return 0, fmt.Errorf("xs:duration %q: want PT...", s)
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("xs:duration %q: malformed", s)
		}
		v, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("xs:duration %q: %w", s, err)
		}
		unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second}[rest[i]]
		if unit == 0 {
			return 0, fmt.Errorf("xs:duration %q: unknown unit %q", s, rest[i])
		}
		total += time.Duration(v * float64(unit))
		rest = rest[i+1:]
	}
	return total, nil
}

// xsDateTime writes t in UTC with milliseconds, as availabilityStartTime and publishTime.
func xsDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
