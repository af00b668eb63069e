// Package dvr records every live room's LL-HLS renditions and serves them back: the DVR
// window behind the live edge (pause, rewind), start-over, catch-up by wall-clock time, the
// recording as a VOD once the room ends, and clips.
//
// It attaches to the LL-HLS streams as an hls.SegmentSink (the Recorder): each finished
// segment is handed to a bounded queue and written off the media path to a Store (local
// disk, or any S3-compatible object store), then appended to its rendition's index. The
// index is the truth of what a recording holds; a segment is listed only once its bytes
// are durable, so a crash (kill -9) loses at most the segments still in the queue, and a
// restart discards a torn index tail. A recording that a crash interrupted is closed as a
// VOD when the node starts again; when its room comes back, the new recording begins with
// a gap marker.
//
// Layout (keys are the same on disk and in object storage; the indexes always live on the
// node's local disk under DataDir):
//
//	{room}/{recording}/{rendition}/init-{id}.mp4    an init segment
//	{room}/{recording}/{rendition}/seg-{msn}.m4s    a media segment (its parts concatenated)
//	{room}/{recording}/{rendition}/index.jsonl      the append-only index (one Segment per line)
//	{room}/{recording}/recording.json               start, end (once closed), interrupted
//	{room}/{recording}/dateranges.jsonl             its timed events (one DateRange per line)
//
// A recording's id is "{room}.{start}", start in UTC as 20060102T150405Z (room names hold
// no dots, so an id is unambiguous and safe in paths and URLs); "-2", "-3"... follow when
// two recordings of a room start in the same second.
//
// The Library (Open) is the Recorder, the Catalog and retention of one node.
//
// Recording: a recording starts at a room's first segment after its LL-HLS stream opens
// (Start is that segment's PROGRAM-DATE-TIME) and ends when the stream closes (End: its
// last stored segment's end), so a publisher's reconnect within hls's grace stays in one
// recording, as a discontinuity. SegmentFinished never blocks and never copies: a segment
// that does not fit the bounded queue (Options.QueueBytes) is dropped, and so is one the
// store refuses after its retries; either way the next stored segment of that rendition
// has Gap set. Each rendition is written by one worker, in order: recording.json when it
// changed, the init segment once per key, the segment, then its index line (appended and
// fsynced); the Catalog lists a segment only after that. A segment keeps hls's media
// sequence number unless that would not increase (a resumed recording), and is then
// renumbered after the last one. Parts are not recorded: their bytes are in their segment,
// and the live edge's parts are served from hls's memory.
//
// Recovery (Open): every recording.json and index.jsonl is read. An index is cut after its
// last complete, well-formed line, and listed segments at its end whose bytes or init
// segment are missing or shorter than listed are cut too. A directory without
// recording.json (a deletion or an empty recording cut short) is removed. A recording
// without End was interrupted: it is closed at once (End = its last segment's end,
// Interrupted set), a VOD like any other. If its room's next segment has a
// PROGRAM-DATE-TIME no later than Options.ResumeWithin (default 10 min) after that End,
// the recording continues (End cleared until the stream closes) and the first new segment
// of each rendition has Gap set; later, a new recording starts. Only the newest
// interrupted recording of a room can resume, once. A Library closed with rooms still
// live (no StreamClosed) leaves them as a crash would.
//
// Retention: a pass runs every Options.RetentionInterval and after writes (at most once a
// second). It removes ended recordings, oldest first, that ended more than MaxAge ago, or
// while their room is over MaxRoomBytes or all rooms are over MaxBytes. A live recording
// is never removed: when it is over MaxAge, or its room still over a byte bound, its head
// is trimmed (the segments that end by the cut; the index is rewritten before their bytes
// go), never its newest Options.KeepLive (default 1 min). A held recording (Catalog.Hold)
// is neither removed nor trimmed until it is released. Delete takes a
// recording out of the listings and removes its recording.json at once; its bytes and
// index go after the last release.
package dvr

import (
	"context"
	"errors"
	"time"
)

// Errors shared by stores, the catalog and the HTTP handlers.
var (
	// ErrNotFound: no such key, recording, rendition or clip.
	ErrNotFound = errors.New("dvr: not found")
	// ErrBadID: an id or key that is not well formed (path traversal included).
	ErrBadID = errors.New("dvr: malformed id")
)

// Store holds the bytes of init segments and media segments by key (see the layout in the
// package doc). Implementations are safe for concurrent use.
type Store interface {
	// Put stores data under key. When it returns nil the bytes are durable (disk: written
	// to a temporary file, fsynced, renamed into place).
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the bytes under key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns every key under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Segment is one line of a rendition's index: a stored media segment.
type Segment struct {
	MSN      uint64        `json:"msn"`
	Key      string        `json:"key"`
	InitKey  string        `json:"init"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"dur"`
	// PDT is its EXT-X-PROGRAM-DATE-TIME (the capture time of its first sample).
	PDT time.Time `json:"pdt"`
	// Discontinuity: an EXT-X-DISCONTINUITY before it (new source or encoding).
	Discontinuity bool `json:"disc,omitempty"`
	// Gap: the recording lost time before it (the node crashed or the store failed); a
	// playlist puts an EXT-X-DISCONTINUITY before it and the time in between is absent.
	Gap bool `json:"gap,omitempty"`
	// Independent: it starts with a keyframe.
	Independent bool `json:"indep,omitempty"`
	// Timescale, DecodeTime and Ticks are its media timing in its track's timescale: the
	// tfdt of its first fragment and the sum of its sample durations (an MPD's
	// SegmentTimeline). Indexes written before they were recorded have none (Timescale 0).
	Timescale  uint32 `json:"ts,omitempty"`
	DecodeTime uint64 `json:"dt,omitempty"`
	Ticks      uint64 `json:"ticks,omitempty"`
}

// End is the PDT just after the segment.
func (s Segment) End() time.Time { return s.PDT.Add(s.Duration) }

// Recording describes one recording of a room: from a publisher's start to the room's end.
type Recording struct {
	ID    string    `json:"id"`
	Room  string    `json:"room"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"` // zero while live
	Live  bool      `json:"live"`
	// Interrupted: closed after a crash rather than by the room's end.
	Interrupted bool          `json:"interrupted,omitempty"`
	Renditions  []string      `json:"renditions"`
	Bytes       int64         `json:"bytes"`
	Duration    time.Duration `json:"duration"`
}

// Catalog is the read side of the recordings, used by the HTTP handlers, clips and
// retention. Its methods are safe for concurrent use with the Recorder writing.
type Catalog interface {
	// Recordings lists the recordings of room ("" for every room), newest first.
	Recordings(room string) []Recording
	// Recording returns one recording by id.
	Recording(id string) (Recording, bool)
	// Live returns the room's recording in progress, if any.
	Live(room string) (Recording, bool)
	// Segments returns a rendition's stored segments in order (ErrNotFound for an unknown
	// recording or rendition).
	Segments(id, rendition string) ([]Segment, error)
	// DateRanges returns the recording's timed events by start (ErrNotFound for an unknown
	// recording).
	DateRanges(id string) ([]DateRange, error)
	// Read returns the bytes of a segment or init segment key of the recording.
	Read(ctx context.Context, key string) ([]byte, error)
	// Hold keeps the recording's bytes while a reader (a clip being cut, a VOD being
	// played) needs them: retention and Delete remove them only after release is called.
	Hold(id string) (release func(), err error)
	// Delete removes a recording (at once from listings; its bytes once no Hold remains).
	Delete(ctx context.Context, id string) error
}
