package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/glint-video/glint/internal/stats"
)

// step brings the pools to n WebRTC and nHLS LL-HLS viewers, waits the warm-up and
// measures for cfg.Step.
func (r *runner) step(ctx context.Context, n, nHLS int, baseline *Step) (*Step, error) {
	joinStart := time.Now()
	fromW, fromH := len(r.webrtc.members), len(r.hls.members)
	err := r.webrtc.resize(ctx, n, func(joined int) { r.bar.status("%d/%d WebRTC viewers joined", joined, n) })
	if err != nil {
		return nil, err
	}
	if err := r.hls.resize(ctx, nHLS, func(joined int) { r.bar.status("%d/%d LL-HLS viewers started", joined, nHLS) }); err != nil {
		return nil, err
	}
	joined := time.Since(joinStart)
	for _, p := range r.pubs {
		if err := p.err(); err != nil {
			return nil, fmt.Errorf("publisher %s: %w", p.room, err)
		}
	}
	label := fmt.Sprintf("%d WebRTC + %d LL-HLS viewers", n, nHLS)
	r.bar.status("%s: warming up %s", label, r.cfg.Warmup)
	if err := sleep(ctx, r.cfg.Warmup); err != nil {
		return nil, err
	}
	start, err := r.snapshot(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	stop := r.bar.measuring(label, r.cfg.Step)
	end, err := r.snapshot(ctx, time.Unix(0, start.mark).Add(r.cfg.Step))
	stop()
	if err != nil {
		return nil, err
	}
	step, err := newStep(n, nHLS, start, end, baseline)
	if err != nil {
		return nil, err
	}
	step.JoinSeconds = joined.Seconds()
	step.WebRTC = clientStats(n, fromW, &start, &end, &start.webrtc, &end.webrtc, true)
	step.LLHLS = clientStats(nHLS, fromH, &start, &end, &start.hls, &end.hls, false)
	if len(r.nodes) > 0 {
		if step.Nodes, err = r.nodeStats(ctx, n, fromW, &start, &end, baseline); err != nil {
			return nil, err
		}
	}
	return step, nil
}

// newStep computes the server and load generator part of a step from the snapshots at
// the start and the end of its measurement.
func newStep(n, nHLS int, a, b snapshot, baseline *Step) (*Step, error) {
	wall := b.at.Sub(a.at).Seconds()
	s := &Step{
		Viewers: n, HLSViewers: nHLS, Seconds: wall,
		LoadgenCPUPercent: 100 * (b.selfCPU - a.selfCPU).Seconds() / wall,
		MachineCPUPercent: 100 * (b.machine - a.machine).Seconds() / wall,
	}
	s.LoadgenSaturated = s.LoadgenCPUPercent > saturatedPercent*float64(runtime.GOMAXPROCS(0))
	if a.server.haveProcess && b.server.haveProcess {
		s.ServerCPUPercent = 100 * (b.server.cpuSeconds - a.server.cpuSeconds) / wall
		s.ServerRSSBytes = int64(b.server.rssBytes)
		if baseline != nil && n+nHLS > 0 && baseline.ServerRSSBytes > 0 {
			s.ServerCPUPerViewerPercent = (s.ServerCPUPercent - baseline.ServerCPUPercent) / float64(n+nHLS)
			s.ServerRSSPerViewerBytes = (s.ServerRSSBytes - baseline.ServerRSSBytes) / int64(n+nHLS)
		}
	}
	if b.server.haveViewers {
		v := int(b.server.viewers)
		s.ServerViewers = &v
	}
	s.ServerPacketsOutPerSec = (b.server.packetsOut - a.server.packetsOut) / wall
	s.ServerRetransmits = uint64(max(0, b.server.retransmit-a.server.retransmit))
	s.ServerHLSRequestsPerSec = max(0, b.server.hlsRequests-a.server.hlsRequests) / wall
	s.ServerSkips = uint64(max(0, b.server.skips-a.server.skips))
	if len(b.server.transit) > 0 {
		transit, err := bucketDelta(metricTransit, a.server.transit, b.server.transit)
		if err != nil {
			return nil, err
		}
		s.TransitP50Ms, s.TransitP99Ms = ms(bucketQuantile(transit, 0.5)), ms(bucketQuantile(transit, 0.99))
		s.TransitSamples, s.TransitOverflowPercent = bucketTotal(transit), 100*overflowShare(transit)
	}
	if len(b.server.unpaced) > 0 {
		unpaced, err := bucketDelta(metricUnpaced, a.server.unpaced, b.server.unpaced)
		if err != nil {
			return nil, err
		}
		s.TransitUnpacedP50Ms, s.TransitUnpacedP99Ms = ms(bucketQuantile(unpaced, 0.5)), ms(bucketQuantile(unpaced, 0.99))
	}
	return s, nil
}

// clientStats computes one kind's statistics over the step; viewers from index from on
// joined during this step (their join times are the step's). nil without viewers.
func clientStats(n, from int, a, b *snapshot, pa, pb *poolCounts, rtp bool) *ClientStats {
	if n == 0 {
		return nil
	}
	window := time.Duration(b.mark - a.mark)
	wall := b.at.Sub(a.at).Seconds()
	lat := pb.latency.sub(&pa.latency)
	c := &ClientStats{
		Viewers: n, Alive: pb.alive,
		LatencyP50Ms: ms(lat.quantile(0.5)), LatencyP95Ms: ms(lat.quantile(0.95)), LatencyP99Ms: ms(lat.quantile(0.99)),
		LatencyMaxMs: ms(lat.max()), LatencySamples: lat.total(),
		IncompleteFrames: pb.incomplete - pa.incomplete, CorruptFrames: pb.corrupt - pa.corrupt,
		FramesWithoutCapture: pb.noCapture - pa.noCapture,
	}
	if parts := pb.partLatency.sub(&pa.partLatency); parts.total() > 0 {
		c.PartLatencyP50Ms, c.PartLatencyP95Ms = ms(parts.quantile(0.5)), ms(parts.quantile(0.95))
		c.PartsMeasured = parts.total()
	}
	var joins []time.Duration
	for i, j := range pb.joins {
		if j > 0 {
			c.Joined++
			if i >= from || from == n {
				joins = append(joins, j)
			}
		}
	}
	slices.Sort(joins)
	c.JoinsMeasured = len(joins)
	c.JoinP50Ms, c.JoinP95Ms = ms(stats.Quantile(joins, 0.5)), ms(stats.Quantile(joins, 0.95))
	var expected, received, bytes uint64
	c.FramesReceivedMin = ^uint64(0)
	for i := range n {
		room := pb.rooms[i]
		expected += b.published[room] - a.published[room]
		got := pb.frames[i] - pa.frames[i]
		received += got
		c.FramesReceivedMin = min(c.FramesReceivedMin, got)
		bytes += pb.rxBytes[i] - pa.rxBytes[i]
	}
	c.FramesSent = float64(expected) / float64(n)
	c.FramesReceivedMean = float64(received) / float64(n)
	if expected > 0 {
		c.FramesPercent = 100 * float64(received) / float64(expected)
	}
	c.FreezesPerMinute = float64(pb.freezes-pa.freezes) / float64(n) / window.Minutes()
	c.BitrateKbps = float64(bytes) * 8 / 1000 / wall / float64(n)
	if rtp {
		gaps, late, packets := pb.gaps-pa.gaps, pb.late-pa.late, pb.packets-pa.packets
		if span := packets - late + gaps; span > 0 && gaps > late {
			c.LossPercent = 100 * float64(gaps-late) / float64(span)
		}
		c.Duplicates = pb.duplicates - pa.duplicates
	} else {
		c.LossPercent = max(0, 100-c.FramesPercent)
	}
	return c
}

// saturatedPercent is the share of a core above which the load generator counts as saturated.
const saturatedPercent = 85

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
