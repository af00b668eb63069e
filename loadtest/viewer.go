package loadtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
)

// maxLatency bounds a plausible latency sample; a payload that claims more does not carry
// a stamp of ours, and counts as sent when it arrived.
const maxLatency = int64(time.Minute)

// viewer is one WHEP session that reads its tracks as cheaply as it can: raw packets into
// a reused buffer, the header parsed by hand, no allocation per packet.
type viewer struct {
	sess       *client.Session
	clock      *markClock
	latency    latencyHistogram // publisher send to read, all tracks
	gaps       atomic.Uint64    // packets missing in sequence when a later one arrived
	duplicates atomic.Uint64    // packets received twice (a retransmission after all), not counted

	mu     sync.Mutex
	tracks []*packetCounter
}

// joinViewer plays whepURL and waits until the viewer is connected.
func joinViewer(ctx context.Context, whepURL string, cfg Config, httpClient *http.Client, clock *markClock) (*viewer, error) {
	v := &viewer{clock: clock}
	opts := client.Options{
		Token: cfg.Token, HTTPClient: httpClient, LoopbackOnly: cfg.LoopbackOnly,
		OnTrack: func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.readTrack(track) },
	}
	sess, err := client.Play(ctx, whepURL, opts)
	if err != nil {
		return nil, err
	}
	v.sess = sess
	if err := sess.Connected(ctx); err != nil {
		v.close(context.WithoutCancel(ctx))
		return nil, err
	}
	return v, nil
}

// readTrack counts the track's packets until the session closes.
func (v *viewer) readTrack(track *webrtc.TrackRemote) {
	counter := &packetCounter{clock: v.clock}
	v.mu.Lock()
	v.tracks = append(v.tracks, counter)
	v.mu.Unlock()
	buf := make([]byte, 1500)
	var seqs seqTracker
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		seq, payload, ok := parseRTP(buf[:n])
		if !ok {
			continue
		}
		isNew, gap := seqs.add(seq)
		if !isNew {
			v.duplicates.Add(1)
			continue
		}
		if gap > 0 {
			v.gaps.Add(uint64(gap))
		}
		now := time.Now().UnixNano()
		sent := stampOf(payload)
		if sent <= 0 || now-sent > maxLatency {
			sent = now // not one of ours: count it as sent now
		} else {
			v.latency.observe(now - sent)
		}
		counter.count(sent, n)
	}
}

// counters are the viewer's per-track packet counters.
func (v *viewer) counters(yield func(*packetCounter) bool) {
	v.mu.Lock()
	tracks := v.tracks
	v.mu.Unlock()
	for _, c := range tracks {
		if !yield(c) {
			return
		}
	}
}

// parseRTP returns an RTP packet's sequence number and payload (without padding).
func parseRTP(b []byte) (seq uint16, payload []byte, ok bool) {
	const fixedHeader = 12
	if len(b) < fixedHeader || b[0]>>6 != 2 {
		return 0, nil, false
	}
	off := fixedHeader + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // header extension
		if off+4 > len(b) {
			return 0, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 { // padding
		end -= int(b[end-1])
	}
	if off > end {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(b[2:]), b[off:end], true
}

// alive reports whether the viewer's connection is still up.
func (v *viewer) alive() bool {
	select {
	case <-v.sess.Done():
		return false
	default:
		return true
	}
}

func (v *viewer) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	_ = v.sess.Close(ctx) // best effort: the server also drops it on ICE timeout
}

// viewerPool holds the viewers of a run.
type viewerPool struct {
	cfg        Config
	whepURL    string
	httpClient *http.Client
	clock      *markClock
	viewers    []*viewer
}

// resize joins viewers in batches of cfg.JoinBatch (concurrently within a batch) or closes
// the newest ones until the pool has n. On a join error the viewers that did join stay.
func (p *viewerPool) resize(ctx context.Context, n int, progress func(joined int)) error {
	for len(p.viewers) > n {
		last := p.viewers[len(p.viewers)-1]
		p.viewers = p.viewers[:len(p.viewers)-1]
		last.close(context.WithoutCancel(ctx))
	}
	for len(p.viewers) < n {
		batch := min(p.cfg.JoinBatch, n-len(p.viewers))
		joined, err := p.joinBatch(ctx, batch)
		p.viewers = append(p.viewers, joined...)
		if err != nil {
			return fmt.Errorf("join viewer %d of %d: %w", len(p.viewers)+1, n, err)
		}
		if progress != nil {
			progress(len(p.viewers))
		}
	}
	return nil
}

func (p *viewerPool) joinBatch(ctx context.Context, size int) ([]*viewer, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	results := make([]*viewer, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range size {
		wg.Go(func() { results[i], errs[i] = joinViewer(ctx, p.whepURL, p.cfg, p.httpClient, p.clock) })
	}
	wg.Wait()
	var joined []*viewer
	for i := range size {
		if errs[i] == nil {
			joined = append(joined, results[i])
		}
	}
	return joined, errors.Join(errs...)
}

// closeAll ends every viewer session (DELETE, then the PeerConnection), a batch at a time.
func (p *viewerPool) closeAll(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(p.cfg.JoinBatch, 1))
	for _, v := range p.viewers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v.close(ctx)
		})
	}
	wg.Wait()
	p.viewers = nil
}

// counters yields every track counter of every viewer.
func (p *viewerPool) counters(yield func(*packetCounter) bool) {
	for _, v := range p.viewers {
		for c := range v.counters {
			if !yield(c) {
				return
			}
		}
	}
}

// viewerCounts is what the viewers had received of the packets sent before a mark.
type viewerCounts struct {
	packets, bytes []uint64 // per viewer
	gaps           uint64   // all viewers
	duplicates     uint64   // all viewers
	latency        histogramCounts
	alive          int
}

// snapshot reads the viewers' counters at mark (see waitCrossed).
func (p *viewerPool) snapshot(mark int64) viewerCounts {
	c := viewerCounts{packets: make([]uint64, len(p.viewers)), bytes: make([]uint64, len(p.viewers))}
	for i, v := range p.viewers {
		for t := range v.counters {
			packets, bytes, _ := t.at(mark)
			c.packets[i] += packets
			c.bytes[i] += bytes
		}
		c.gaps += v.gaps.Load()
		c.duplicates += v.duplicates.Load()
		v.latency.addTo(&c.latency)
		if v.alive() {
			c.alive++
		}
	}
	return c
}
