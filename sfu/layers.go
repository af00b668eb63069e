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

// startProbe resends recent packets for length at about rate bit/s, ramping up from from
// bit/s over its first half (see runProbes); the viewer drops them as duplicates, but they
// count in its congestion feedback.
func (d *DownTrack) startProbe(rate, from uint64, length time.Duration, baseLoss float64) {
	p := probe{rate: rate, from: min(from, rate), length: length, baseLoss: baseLoss}
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

type probe struct {
	rate, from uint64 // bit/s: at full strength, at the start of the ramp
	length     time.Duration
	baseLoss   float64 // the path's loss before the probe (see probeLosing)
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
		t := time.NewTicker(tick)
		start := time.Now()
		end, last := start.Add(p.length), start
		packets, nacked := d.stats.packets.Load(), d.stats.nackedFirst.Load()
		budget := 0.0
		for now := start; now.Before(end); now = time.Now() {
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C:
			case <-d.probeCh: // stopped
				end = now
				continue
			}
			if sent, lost := d.stats.packets.Load()-packets, d.stats.nackedFirst.Load()-nacked; probeLosing(sent, lost, p.baseLoss) {
				d.log.Debug("probe stops on loss", "packets", sent, "nacked", lost, "after_ms", now.Sub(start).Milliseconds())
				end = now // the path is full: stop at once (the allocator sees the same loss)
				continue
			}
			// The bytes due for the time since the last tick (a late tick on a busy machine
			// owes them too, up to a few ticks' worth, so a probe delivers its rate without
			// bursting after a stall). The rate ramps up from p.from to p.rate over the first
			// half of the probe, slowly at first: a full path shows in the feedback (and
			// stops the probe) while the probe overruns it by little.
			at := time.Now()
			ramp := min(1, 2*float64(at.Sub(start))/float64(p.length))
			rate := float64(p.from) + (float64(p.rate)-float64(p.from))*ramp*ramp
			budget += rate / 8 * min(at.Sub(last), 5*tick).Seconds()
			last = at
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
