package dvr

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"sort"
	"sync"
	"time"
)

// Clip statuses, as GET /api/clips/{id} reports them.
const (
	clipPending = "pending"
	clipRunning = "running"
	clipDone    = "done"
	clipFailed  = "failed"
)

// clipEntry is a range of one recording: a VOD playlist per rendition over the stored segments
// that cover it (no copy), and an MP4 made in the background. A clip Holds its recording
// from its creation until it is deleted, expires (ClipTTL) or the Handler closes, so that
// neither retention nor a Delete of the recording removes the bytes its playlists list.
type clipEntry struct {
	id        string
	recording Recording
	from, to  time.Time            // the range asked
	segs      map[string][]Segment // rendition → the segments covering the range
	top       string               // the best video rendition: the one the MP4 holds
	mp4Path   string
	created   time.Time
	accurate  bool // the MP4 starts on the exact frame (its first GOP re-encoded)

	releaseOnce sync.Once
	releaseHold func()

	mu       sync.Mutex
	status   string
	progress float64
	bytes    int64
	duration time.Duration
	err      string
	expiry   *time.Timer   // drops the clip after ClipTTL
	cancel   func()        // stops the MP4 job
	jobDone  chan struct{} // closed when the MP4 job has ended
}

// renditions returns the clip's renditions, sorted.
func (c *clipEntry) renditions() []string {
	names := make([]string, 0, len(c.segs))
	for r := range c.segs {
		names = append(names, r)
	}
	sort.Strings(names)
	return names
}

// covered returns the wall-clock range the clip's segments cover (at least the range asked).
func (c *clipEntry) covered() (from, to time.Time) {
	for _, segs := range c.segs {
		if from.IsZero() || segs[0].PDT.Before(from) {
			from = segs[0].PDT
		}
		if end := segs[len(segs)-1].End(); end.After(to) {
			to = end
		}
	}
	return from, to
}

// release stops the clip's MP4 job (and waits for it), gives up the clip's Hold on its
// recording and removes its MP4 file; it runs once.
func (c *clipEntry) release() {
	c.releaseOnce.Do(func() {
		c.mu.Lock()
		expiry, cancel, done := c.expiry, c.cancel, c.jobDone
		c.mu.Unlock()
		if expiry != nil {
			expiry.Stop()
		}
		if cancel != nil {
			cancel()
			<-done // so that it writes no file after the removal below
		}
		c.releaseHold()
		_ = os.Remove(c.mp4Path) // absent when never made
	})
}

// clipState is GET /api/clips/{id}.
type clipState struct {
	ID        string    `json:"id"`
	Recording string    `json:"recording"`
	Start     time.Time `json:"start"` // the segment boundaries the clip covers
	End       time.Time `json:"end"`
	Playlist  string    `json:"playlist"`
	MP4       string    `json:"mp4"`
	Status    string    `json:"status"`
	Progress  float64   `json:"progress"`
	Bytes     int64     `json:"bytes,omitempty"`
	Duration  float64   `json:"duration,omitempty"` // seconds, of the MP4
	Error     string    `json:"error,omitempty"`
}

func (c *clipEntry) state() clipState {
	from, to := c.covered()
	c.mu.Lock()
	defer c.mu.Unlock()
	return clipState{
		ID: c.id, Recording: c.recording.ID, Start: from, End: to,
		Playlist: "/dvr/clips/" + c.id + "/index.m3u8", MP4: "/dvr/clips/" + c.id + ".mp4",
		Status: c.status, Progress: c.progress, Bytes: c.bytes, Duration: c.duration.Seconds(), Error: c.err,
	}
}

// setProgress records the MP4 job's progress.
func (c *clipEntry) setProgress(status string, progress float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.progress = status, progress
}

// clipSet is the Handler's clips by id.
type clipSet struct {
	mu    sync.Mutex
	clips map[string]*clipEntry
}

func newClipSet() *clipSet { return &clipSet{clips: map[string]*clipEntry{}} }

func (s *clipSet) add(c *clipEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clips[c.id] = c
}

func (s *clipSet) get(id string) (*clipEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clips[id]
	return c, ok
}

// remove takes the clip out of the set (nil when it was not there).
func (s *clipSet) remove(id string) *clipEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clips[id]
	delete(s.clips, id)
	return c
}

func (s *clipSet) removeAll() []*clipEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*clipEntry, 0, len(s.clips))
	for id, c := range s.clips {
		all = append(all, c)
		delete(s.clips, id)
	}
	return all
}

// newClipID returns "c" and 16 random hex digits.
func newClipID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "c" + hex.EncodeToString(b[:])
}
