package dvr

import (
	"hash/maphash"
	"sync"
	"time"
)

// job is one unit of work for a worker: store a segment (and its init segment, if not yet
// stored) and append it to its index, trim a rendition's head (trimTo set), store a timed
// event (dateRange set), or finalize a recording whose stream closed (rend and dateRange
// nil).
type job struct {
	rec       *recording
	rend      *rendition
	dateRange *DateRange
	trimTo    time.Time // a trim: remove the segments that end by then
	seg       Segment
	data      []byte
	init      []byte // the init segment it plays with, stored once per key
	size      int64  // counted against the queue's bound
}

// isSegment reports whether j stores a segment (what the queue's bound counts).
func (j job) isSegment() bool { return j.rend != nil && j.trimTo.IsZero() }

// queue is the Recorder's bounded queue: one FIFO lane per worker (a rendition always
// uses the same lane, so its segments are stored in order), bounded in bytes overall.
type queue struct {
	mu       sync.Mutex
	lanes    [][]job
	wake     []chan struct{} // per lane, capacity 1
	closed   bool
	bytes    int64
	segments int
	max      int64
	seed     maphash.Seed
}

func newQueue(lanes int, maxBytes int64) *queue {
	q := &queue{lanes: make([][]job, lanes), wake: make([]chan struct{}, lanes), max: maxBytes, seed: maphash.MakeSeed()}
	for i := range q.wake {
		q.wake[i] = make(chan struct{}, 1)
	}
	return q
}

// lane returns the lane of a recording's rendition.
func (q *queue) lane(id, rendition string) int {
	return int(maphash.String(q.seed, id+"/"+rendition) % uint64(len(q.lanes)))
}

// push adds j to its lane unless the queue is closed or j's bytes do not fit; it never
// blocks. Only segments count against the bound.
func (q *queue) push(lane int, j job) bool {
	q.mu.Lock()
	if q.closed || (j.isSegment() && q.bytes+j.size > q.max) {
		q.mu.Unlock()
		return false
	}
	q.lanes[lane] = append(q.lanes[lane], j)
	if j.isSegment() {
		q.bytes += j.size
		q.segments++
	}
	q.mu.Unlock()
	select {
	case q.wake[lane] <- struct{}{}:
	default:
	}
	return true
}

// pop returns the lane's next job, waiting for one; ok is false once the queue is closed
// and the lane empty, or when stop is closed.
func (q *queue) pop(lane int, stop <-chan struct{}) (j job, ok bool) {
	for {
		q.mu.Lock()
		if len(q.lanes[lane]) > 0 {
			j = q.lanes[lane][0]
			q.lanes[lane][0] = job{}
			q.lanes[lane] = q.lanes[lane][1:]
			q.mu.Unlock()
			return j, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return job{}, false
		}
		select {
		case <-q.wake[lane]:
		case <-stop:
			return job{}, false
		}
	}
}

// done releases a popped job's bytes.
func (q *queue) done(j job) {
	if !j.isSegment() {
		return
	}
	q.mu.Lock()
	q.bytes -= j.size
	q.segments--
	q.mu.Unlock()
}

// close lets the workers finish their lanes and stop.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	for _, w := range q.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// depth returns the bytes and segments queued.
func (q *queue) depth() (bytes int64, segments int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes, q.segments
}
