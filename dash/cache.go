package dash

import (
	"strconv"
	"sync"
	"time"

	"github.com/glint-video/glint/hls"
)

// mpdCache keeps each room's last rendered MPD. Players reload the MPD every
// minimumUpdatePeriod, and one that reaches back over a DVR window lists thousands of
// segments (a 2-hour window: tens of milliseconds to render), so it is rendered again only
// when what it lists changed — a segment of any track, the length the segment being written
// is listed with, the window, the URL of the clock —, about once a segment, not for every
// request. Only its publishTime is written fresh into each answer. Entries unused for
// cacheIdle go at the next render.
type mpdCache struct {
	mu      sync.Mutex
	entries map[string]*cachedMPD // room →
}

type cachedMPD struct {
	stream *hls.Stream // a room published again is another Stream
	key    string
	body   []byte
	pubAt  int // offset of the publishTime value in body
	used   time.Time
}

// cacheIdle is how long an unused entry stays (a room that ended, or lost its viewers).
const cacheIdle = time.Minute

// get returns the room's MPD if it was rendered from s for key, with the offset of its
// publishTime value.
func (c *mpdCache) get(room string, s *hls.Stream, key string, now time.Time) (body []byte, pubAt int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[room]
	if e == nil || e.stream != s || e.key != key {
		return nil, 0, false
	}
	e.used = now
	return e.body, e.pubAt, true
}

// put keeps body as the room's MPD rendered from s for key, and drops idle entries.
func (c *mpdCache) put(room string, s *hls.Stream, key string, body []byte, pubAt int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*cachedMPD{}
	}
	for r, e := range c.entries {
		if now.Sub(e.used) > cacheIdle {
			delete(c.entries, r)
		}
	}
	c.entries[room] = &cachedMPD{stream: s, key: key, body: body, pubAt: pubAt, used: now}
}

// mpdKey identifies what an MPD of a Stream lists: each view's init segment, listed segments
// and the segment being written (the length it is listed with), the DVR window and the
// clock's URL. The archived segments follow from these.
func mpdKey(views []hls.TrackView, tm hls.StreamTiming, window time.Duration, timeURL string) string {
	b := make([]byte, 0, 64+48*len(views))
	b = strconv.AppendInt(b, int64(window), 36)
	b = append(b, ' ')
	b = append(b, timeURL...)
	for _, v := range views {
		if len(v.Segments) == 0 {
			continue
		}
		b = append(b, '|')
		b = append(b, v.Rendition...)
		for _, n := range []uint64{v.InitID, uint64(len(v.Segments)), v.Segments[0].MSN, v.Segments[len(v.Segments)-1].MSN} {
			b = append(b, ' ')
			b = strconv.AppendUint(b, n, 36)
		}
		if v.Live != nil {
			b = append(b, " l"...)
			b = strconv.AppendUint(b, v.Live.MSN, 36)
			b = append(b, '.')
			b = strconv.AppendUint(b, listedLength(*v.Live, v.Timescale, tm), 36)
		}
		if v.Ended {
			b = append(b, " e"...)
		}
	}
	return string(b)
}
