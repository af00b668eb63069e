package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Client kinds, as named in the report.
const (
	KindWebRTC = "webrtc"
	KindLLHLS  = "llhls"
)

// member is one viewer of either kind.
type member interface {
	stats() *frameStats
	room() int // index of the publisher it watches
	counters() *rxCounters
	alive() bool
	close(ctx context.Context)
}

// viewerPool holds the viewers of one kind.
type viewerPool struct {
	kind      string
	batch     int     // joined concurrently
	rampRate  float64 // viewers per second, 0 = as fast as batches join
	join      func(ctx context.Context, index int) (member, error)
	members   []member
	joinedAt  time.Time // when the current ramp began
	rampCount int       // viewers joined in the current ramp
}

// resize joins viewers in batches (concurrently within a batch, no faster than the ramp
// rate) or closes the newest ones until the pool has n. On a join error the viewers that
// did join stay.
func (p *viewerPool) resize(ctx context.Context, n int, progress func(joined int)) error {
	for len(p.members) > n {
		last := p.members[len(p.members)-1]
		p.members = p.members[:len(p.members)-1]
		last.close(context.WithoutCancel(ctx))
	}
	p.joinedAt, p.rampCount = time.Now(), 0
	for len(p.members) < n {
		size := min(max(p.batch, 1), n-len(p.members))
		if p.rampRate > 0 {
			due := p.joinedAt.Add(time.Duration(float64(p.rampCount) / p.rampRate * float64(time.Second)))
			if err := sleep(ctx, time.Until(due)); err != nil {
				return err
			}
			size = min(size, max(1, int(p.rampRate))) // at most a second's worth at once
		}
		joined, err := p.joinBatch(ctx, len(p.members), size)
		p.members = append(p.members, joined...)
		p.rampCount += len(joined)
		if err != nil {
			return fmt.Errorf("join %s viewer %d of %d: %w", p.kind, len(p.members)+1, n, err)
		}
		if progress != nil {
			progress(len(p.members))
		}
	}
	return nil
}

func (p *viewerPool) joinBatch(ctx context.Context, first, size int) ([]member, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	results := make([]member, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range size {
		wg.Go(func() { results[i], errs[i] = p.join(ctx, first+i) })
	}
	wg.Wait()
	var joined []member
	for i := range size {
		if errs[i] == nil {
			joined = append(joined, results[i])
		}
	}
	return joined, errors.Join(errs...)
}

// closeAll ends every viewer, a batch at a time.
func (p *viewerPool) closeAll(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(p.batch, 1))
	for _, m := range p.members {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			m.close(ctx)
		})
	}
	wg.Wait()
	p.members = nil
}

// frameCounters yields every viewer's frame counter (for waitCrossed).
func (p *viewerPool) frameCounters(yield func(*packetCounter) bool) {
	for _, m := range p.members {
		if !yield(&m.stats().frames) {
			return
		}
	}
}

// partMeasurer is a viewer that measures parts (LL-HLS).
type partMeasurer interface {
	partLatency() *latencyHistogram
}

// poolCounts is what the viewers of a pool had received at a mark.
type poolCounts struct {
	frames, frameBytes []uint64 // per viewer, frames captured before the mark
	rxBytes            []uint64 // per viewer, bytes arrived by the read
	rooms              []int
	joins              []time.Duration // per viewer, 0 = no decodable frame yet
	latency            histogramCounts
	partLatency        histogramCounts // LL-HLS: capture of a part's last frame → part downloaded
	freezes            uint64
	packets, gaps      uint64
	late, duplicates   uint64
	incomplete         uint64
	corrupt            uint64
	noCapture          uint64
	alive              int
}

// snapshot reads the viewers' counters at mark (see waitCrossed).
func (p *viewerPool) snapshot(mark int64) poolCounts {
	return p.snapshotWhere(mark, nil)
}

// snapshotWhere is snapshot of the viewers whose index keep accepts (all with nil keep),
// in index order.
func (p *viewerPool) snapshotWhere(mark int64, keep func(index int) bool) poolCounts {
	var kept []member
	for i, m := range p.members {
		if keep == nil || keep(i) {
			kept = append(kept, m)
		}
	}
	n := len(kept)
	c := poolCounts{
		frames: make([]uint64, n), frameBytes: make([]uint64, n), rxBytes: make([]uint64, n),
		rooms: make([]int, n), joins: make([]time.Duration, n),
	}
	for i, m := range kept {
		fs, rx := m.stats(), m.counters()
		c.frames[i], c.frameBytes[i], _ = fs.frames.at(mark)
		c.rxBytes[i] = rx.bytes.Load()
		c.rooms[i] = m.room()
		c.joins[i], _ = fs.joined()
		fs.latency.addTo(&c.latency)
		if pm, ok := m.(partMeasurer); ok {
			pm.partLatency().addTo(&c.partLatency)
		}
		c.freezes += fs.freezes.Load()
		c.noCapture += fs.noCapture.Load()
		c.packets += rx.packets.Load()
		c.gaps += rx.gaps.Load()
		c.late += rx.late.Load()
		c.duplicates += rx.duplicates.Load()
		c.incomplete += rx.incomplete.Load()
		c.corrupt += rx.corrupt.Load()
		if m.alive() {
			c.alive++
		}
	}
	return c
}
