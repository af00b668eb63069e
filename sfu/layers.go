package sfu

import (
	"time"
)

// Layer caps and allocator decisions are simulcast ranks (see layerRank): 1 low, 2 medium,
// 3 high. rankAny means no limit; rankPause stops video (audio goes on).
const (
	rankAny   int32 = 0
	rankPause int32 = -1
)

// SetMaxLayer caps the layer a viewer gets ("l", "m", "h" or "" for no cap).
func (d *DownTrack) SetMaxLayer(rid string) {
	rank := rankAny
	if rid != "" {
		rank = int32(layerRank(rid))
	}
	d.maxRank.Store(rank)
	d.wake()
}

// setAllocation is the bandwidth allocator's decision: the highest rank that fits, or rankPause.
func (d *DownTrack) setAllocation(rank int32) {
	if d.allocRank.Swap(rank) != rank {
		d.wake()
	}
}

// chooseSource returns the layer this viewer should be on now: the best live layer within
// the viewer's cap and the allocator's decision; nil pauses video.
func (d *DownTrack) chooseSource(now time.Time) *UpTrack {
	if !d.isVideo {
		return d.slot.src.Load()
	}
	if d.pinned {
		return d.pinnedSource()
	}
	alloc := d.allocRank.Load()
	if alloc == rankPause {
		return nil
	}
	limit := d.maxRank.Load()
	if alloc != rankAny && (limit == rankAny || alloc < limit) {
		limit = alloc
	}
	var best, lowest *UpTrack
	for _, l := range d.slot.layersByQuality() {
		if !l.Alive(now) {
			continue
		}
		if lowest == nil {
			lowest = l
		}
		if limit == rankAny || int32(layerRank(l.rid)) <= limit {
			best = l
		}
	}
	if best == nil {
		best = lowest // the cap is below every live layer: the lowest is the closest
	}
	if best == nil {
		// Nothing has sent lately (a start, or a pause at the publisher): choose by the
		// limit alone, so that a cap holds from the first packet.
		for _, l := range d.slot.layersByQuality() {
			if best == nil || limit == rankAny || int32(layerRank(l.rid)) <= limit {
				best = l
			}
		}
	}
	if best == nil {
		best = d.slot.src.Load()
	}
	return best
}

// Layer returns the rid of the layer the viewer is on ("" without simulcast or when paused).
func (d *DownTrack) Layer() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fw.src == nil {
		return ""
	}
	return d.fw.src.rid
}

// audioBitrate is the bitrate of the room's audio, which the viewer's budget must carry too.
func (d *DownTrack) audioBitrate() uint64 {
	if d.audio == nil {
		return 0
	}
	if src := d.audio.src.Load(); src != nil {
		return src.Bitrate()
	}
	return 0
}

// sourceBitrate is the bitrate of the layer the viewer is on.
func (d *DownTrack) sourceBitrate() uint64 {
	if src := d.source(); src != nil {
		return src.Bitrate()
	}
	return 0
}

// startProbe resends recent packets for length at about rate bit/s; the viewer drops them
// as duplicates, but they count in its congestion feedback.
func (d *DownTrack) startProbe(rate uint64, length time.Duration) {
	p := probe{rate: rate, length: length}
	select {
	case d.probeCh <- p:
		return
	default:
	}
	select {
	case <-d.probeCh: // a stop that came after its probe had ended
	default:
	}
	select {
	case d.probeCh <- p:
	default:
	}
}

// stopProbe ends the probe under way, if any.
func (d *DownTrack) stopProbe() {
	select {
	case d.probeCh <- probe{}:
	default:
	}
}

// probeRampFrom is the share of a probe's rate it starts at.
const probeRampFrom = 0.4

type probe struct {
	rate   uint64
	length time.Duration
}

// runProbes sends the probes asked for until done is closed.
func (d *DownTrack) runProbes(done <-chan struct{}) {
	const tick = 20 * time.Millisecond
	for {
		var p probe
		select {
		case <-done:
			return
		case p = <-d.probeCh:
		}
		if p.rate == 0 {
			continue // a stop for a probe that has ended
		}
		perTick := float64(p.rate) * tick.Seconds() / 8 // bytes
		t := time.NewTicker(tick)
		start := time.Now()
		end := start.Add(p.length)
		budget := 0.0
		for now := time.Now(); now.Before(end); now = time.Now() {
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C:
			case <-d.probeCh: // stopped
				end = now
				continue
			}
			// The rate ramps up from probeRampFrom of the asked rate over the first half of
			// the probe: a full path shows in the estimate (and stops the probe) before the
			// probe overruns it by much.
			budget += perTick * min(1, probeRampFrom+(1-probeRampFrom)*2*float64(now.Sub(start))/float64(p.length))
			for back := uint16(0); budget > 0 && back < 64; back++ {
				n := d.resendRecent(back)
				if n == 0 {
					break
				}
				budget -= float64(n)
				d.stats.probes.Add(1)
			}
		}
		t.Stop()
	}
}
