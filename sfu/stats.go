package sfu

import (
	"sync/atomic"
	"time"
)

// transitBounds are the upper bounds of the transit-latency histogram buckets.
var transitBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, // overload
}

// latencyHistogram counts durations into transitBounds buckets (plus one overflow bucket).
// It is written by a viewer's drain or by the batched sender (atomically) and read at scrape
// time; it never allocates.
type latencyHistogram struct {
	counts [len(transitBounds) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

func (h *latencyHistogram) observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(transitBounds) && d > transitBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(d))
}

// addTo adds h's counts into totals (same layout) and returns the sum in nanoseconds.
func (h *latencyHistogram) addTo(totals *[len(transitBounds) + 1]uint64) uint64 {
	for i := range h.counts {
		totals[i] += h.counts[i].Load()
	}
	return h.sumNs.Load()
}

// quantile estimates the q-quantile (0..1) from bucket counts, as the bucket's upper bound.
func quantile(counts [len(transitBounds) + 1]uint64, q float64) time.Duration {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	target := uint64(q * float64(total))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen > target || seen == total {
			if i < len(transitBounds) {
				return transitBounds[i]
			}
			return transitBounds[len(transitBounds)-1] * 2
		}
	}
	return 0
}

// transitHistograms are a viewer's transit times (a packet's arrival at the SFU to its
// send): all of each, and each less the time the viewer's pacer held the packet back
// (unpaced: what the SFU itself took, fan-out and socket queue included; the pacer spreads
// a keyframe over tens of milliseconds by design, sfu/pacer.go).
type transitHistograms struct {
	all, unpaced latencyHistogram
}

func (t *transitHistograms) observe(transit, held time.Duration) {
	t.all.observe(transit)
	t.unpaced.observe(transit - held)
}

// downStats are a downtrack's counters.
type downStats struct {
	packets, bytes, writeErrors                            atomic.Uint64
	octets                                                 atomic.Uint64 // payload bytes, for sender reports
	nacksIn, retransmits, plisIn                           atomic.Uint64
	skips, upstreamNacks, switches, probes, resendsRefused atomic.Uint64
	temporalDrops                                          atomic.Uint64 // packets above the temporal cap
	staleSkips                                             atomic.Uint64 // skips to live: packets older than staleAfter (downtrack_pace.go)
	nackedFirst                                            atomic.Uint64 // packets NACKed (each counted once): the loss before repair
	joinsFromCache, joinsAskingKey                         atomic.Uint64 // how video started (sfu/keycache.go)
	lossFraction                                           atomic.Uint32 // last RR fraction lost (0-255)
	jitter                                                 atomic.Uint32 // last RR interarrival jitter (RTP units)
	reports                                                atomic.Uint64 // receiver report blocks about this track
	rttMicros                                              atomic.Uint64
	transit                                                transitHistograms
}

// TrackStats is a snapshot of one downtrack's counters for the API and /metrics.
type TrackStats struct {
	Kind         string  `json:"kind"`
	Layer        string  `json:"layer,omitempty"`
	MaxLayer     string  `json:"max_layer,omitempty"`
	Switches     uint64  `json:"layer_switches"`
	EstimateKbps float64 `json:"estimate_kbps,omitempty"`
	Paused       bool    `json:"paused,omitempty"`
	Packets      uint64  `json:"packets"`
	Bytes        uint64  `json:"bytes"`
	NACKs        uint64  `json:"nacks"`
	Retransmits  uint64  `json:"retransmits"`
	PLIs         uint64  `json:"plis"`
	Skips        uint64  `json:"skips"`
	// StaleSkips counts skips to the next keyframe because the packets waiting were older than
	// a sub-second viewer can use (after congestion or a stall).
	StaleSkips uint64 `json:"stale_skips,omitempty"`
	// Probes counts packets resent to learn whether a higher layer fits (sfu/probe.go).
	Probes uint64 `json:"probes,omitempty"`
	// MaxTemporal is the allocator's temporal-layer cap on the allocated layer (VP8 TID; absent:
	// none), TemporalDrops the packets it dropped.
	MaxTemporal   *int32 `json:"max_temporal,omitempty"`
	TemporalDrops uint64 `json:"temporal_drops,omitempty"`
	// JoinsFromCache counts video starts at the source's cached keyframe, JoinsWithKeyframeRequest
	// those that asked the source for a keyframe (the cached one was too old or gone).
	JoinsFromCache           uint64  `json:"joins_from_cache,omitempty"`
	JoinsWithKeyframeRequest uint64  `json:"joins_with_keyframe_request,omitempty"`
	FractionLost             float64 `json:"fraction_lost"`
	RTTMillis                float64 `json:"rtt_ms"`
	// ReceiverReports counts the viewer's report blocks about this track (RTCP RR or SR),
	// JitterMs is the interarrival jitter the last one gave (RFC 3550 6.4.1), in ms.
	ReceiverReports uint64  `json:"receiver_reports"`
	JitterMs        float64 `json:"jitter_ms"`
	TransitP50Ms    float64 `json:"transit_p50_ms"`
	TransitP99Ms    float64 `json:"transit_p99_ms"`
	// TransitUnpaced* leave out the time the viewer's pacer held each packet back.
	TransitUnpacedP50Ms float64 `json:"transit_unpaced_p50_ms"`
	TransitUnpacedP99Ms float64 `json:"transit_unpaced_p99_ms"`
	// Egress says who encrypts and sends the track's packets: "glint" (the SFU's own
	// egress, sfu/egress.go) or "pion" (pion's SRTP session and ICE connection).
	Egress string `json:"egress"`
}

// Stats returns a snapshot of the downtrack's counters.
func (d *DownTrack) Stats() TrackStats {
	var counts, unpaced [len(transitBounds) + 1]uint64
	d.stats.transit.all.addTo(&counts)
	d.stats.transit.unpaced.addTo(&unpaced)
	st := TrackStats{
		Kind: d.slot.kind, Layer: d.Layer(), MaxLayer: rankName(d.maxRank.Load()), Switches: d.stats.switches.Load(),
		EstimateKbps: float64(d.estimate.Load()) / 1000, Paused: d.allocRank.Load() == rankPause, Packets: d.stats.packets.Load(), Bytes: d.stats.bytes.Load(),
		NACKs: d.stats.nacksIn.Load(), Retransmits: d.stats.retransmits.Load(), PLIs: d.stats.plisIn.Load(),
		Skips: d.stats.skips.Load(), FractionLost: float64(d.stats.lossFraction.Load()) / 256,
		RTTMillis:       float64(d.stats.rttMicros.Load()) / 1000,
		ReceiverReports: d.stats.reports.Load(), JitterMs: d.jitterMillis(),
		TransitP50Ms: ms(quantile(counts, 0.5)), TransitP99Ms: ms(quantile(counts, 0.99)),
		TransitUnpacedP50Ms: ms(quantile(unpaced, 0.5)), TransitUnpacedP99Ms: ms(quantile(unpaced, 0.99)),
		TemporalDrops: d.stats.temporalDrops.Load(), JoinsFromCache: d.stats.joinsFromCache.Load(),
		JoinsWithKeyframeRequest: d.stats.joinsAskingKey.Load(), StaleSkips: d.stats.staleSkips.Load(),
		Probes: d.stats.probes.Load(), Egress: "pion",
	}
	if d.ownEgress() {
		st.Egress = "glint"
	}
	if tid := d.allocTID.Load(); tid < tidAll && d.allocRank.Load() != rankPause {
		st.MaxTemporal = &tid
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// jitterMillis is the last reported jitter in ms, at the track's codec clock rate.
func (d *DownTrack) jitterMillis() float64 {
	rate := d.slot.codec.ClockRate
	if rate == 0 {
		return 0
	}
	return float64(d.stats.jitter.Load()) * 1000 / float64(rate)
}

// TransitBounds returns the transit histogram's bucket upper bounds.
func TransitBounds() []time.Duration { return transitBounds[:] }

func rankName(r int32) string {
	switch r {
	case 1:
		return "l"
	case 2:
		return "m"
	case 3:
		return "h"
	}
	return ""
}
