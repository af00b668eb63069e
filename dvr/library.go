package dvr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/glint-video/glint/hls"
)

// Defaults of Options.
const (
	DefaultQueueBytes   = 256 << 20
	DefaultResumeWithin = 10 * time.Minute
	defaultWorkers      = 4
	defaultRetention    = time.Minute
)

// Options configures a Library.
type Options struct {
	// DataDir holds the indexes ({DataDir}/dvr/...) and, for the disk store, the bytes.
	DataDir string
	// Store holds the segments; nil is a DiskStore on {DataDir}/dvr.
	Store Store
	// QueueBytes bounds the segments waiting to be stored (default 256 MiB); a segment
	// that does not fit is dropped and the next one of its rendition marked Gap.
	QueueBytes int64
	// Workers is how many goroutines write to the store (default 4); each rendition is
	// written by one of them, in order.
	Workers int
	// MaxAge removes recordings that ended longer ago (0: kept for ever).
	MaxAge time.Duration
	// MaxBytes bounds the bytes of all recordings, MaxRoomBytes those of each room (0:
	// unlimited); the oldest recordings go first.
	MaxBytes, MaxRoomBytes int64
	// ResumeWithin: a recording interrupted by a crash continues (with a gap) when its
	// room publishes again within this long of its last segment (default 10 min).
	ResumeWithin time.Duration
	// KeepLive is the newest part of a live recording that retention never trims
	// (default 1 min): the live edge's segments in use.
	KeepLive time.Duration
	// RetentionInterval is how often retention runs besides after writes (default 1 min).
	RetentionInterval time.Duration
	// StoreRetries is how often a failed store write is retried (default 3), with
	// backoff from RetryBackoff (default 200 ms), before the segment is dropped.
	StoreRetries int
	RetryBackoff time.Duration
	Log          *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.Workers <= 0 {
		o.Workers = defaultWorkers
	}
	if o.ResumeWithin <= 0 {
		o.ResumeWithin = DefaultResumeWithin
	}
	if o.KeepLive <= 0 {
		o.KeepLive = time.Minute
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = defaultRetention
	}
	if o.StoreRetries <= 0 {
		o.StoreRetries = 3
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Library is the DVR of one node: the Recorder (an hls.SegmentSink) writing every live
// room's segments to the Store, the Catalog of what is stored, and retention.
type Library struct {
	opts  Options
	store Store
	root  string // {DataDir}/dvr: the indexes and recording.json files
	log   *slog.Logger
	q     *queue
	stats stats

	ctx     context.Context // the workers' and retention's; cancelled by Close
	cancel  context.CancelFunc
	workers sync.WaitGroup // the store writers
	bg      sync.WaitGroup // retention and deferred deletions
	retain  chan struct{}  // asks retention to run (capacity 1)

	mu        sync.Mutex
	closed    bool
	recs      map[string]*recording  // recordings by id, live ones included (listed once a segment is stored)
	live      map[string]*recording  // room → the recording being written
	resumable map[string]*recording  // room → its recording a crash interrupted
	doomed    map[string]*recording  // deleted, waiting for their holds to end
	early     map[string][]DateRange // room → timed events before its recording's first segment
}

var (
	_ Catalog         = (*Library)(nil)
	_ hls.SegmentSink = (*Library)(nil)
)

// ErrLive: the operation needs a recording that has ended.
var ErrLive = errors.New("dvr: recording is live")

// Open recovers the recordings under opts.DataDir (see the package doc: torn index tails
// are cut, recordings a crash interrupted are closed) and starts the workers and retention.
func Open(ctx context.Context, opts Options) (*Library, error) {
	if opts.DataDir == "" {
		return nil, errors.New("dvr: no data directory")
	}
	opts.setDefaults()
	root := filepath.Join(opts.DataDir, "dvr")
	store := opts.Store
	if store == nil {
		disk, err := NewDiskStore(root)
		if err != nil {
			return nil, err
		}
		store = disk
	}
	l := &Library{
		opts: opts, store: store, root: root, log: opts.Log.With("component", "dvr"),
		q: newQueue(opts.Workers, opts.QueueBytes), retain: make(chan struct{}, 1),
		recs: map[string]*recording{}, live: map[string]*recording{},
		resumable: map[string]*recording{}, doomed: map[string]*recording{}, early: map[string][]DateRange{},
	}
	start := time.Now()
	if err := l.recover(ctx); err != nil {
		return nil, err
	}
	l.log.Info("dvr: opened", "dir", root, "recordings", len(l.recs), "recovery", time.Since(start))
	l.ctx, l.cancel = context.WithCancel(context.Background())
	for lane := range opts.Workers {
		l.workers.Go(func() { l.work(lane) })
	}
	l.bg.Go(l.runRetention)
	return l, nil
}

// Close stops taking segments, writes what is queued (until ctx ends: what is left is
// dropped, as a crash would), stops the workers and retention and closes the indexes.
// Recordings still live stay open on disk: the next Open treats them as interrupted.
func (l *Library) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.q.close()
	drained := make(chan struct{})
	go func() { l.workers.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("dvr: close: %w (queue not drained)", ctx.Err())
	}
	l.cancel()
	<-drained
	l.bg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rec := range l.recs {
		rec.closeIndexes()
	}
	return err
}

// path is the local path of a key's index-side file (index.jsonl, recording.json).
func (l *Library) path(key string) string { return filepath.Join(l.root, filepath.FromSlash(key)) }

func (l *Library) now() time.Time { return l.opts.Now() }
