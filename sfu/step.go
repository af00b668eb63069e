package sfu

import (
	"strconv"
	"time"
)

// An allocation step is a simulcast layer with a temporal cap: rank<<2 | max TID, so that
// steps order like the quality they give: l at TID 0 < l at TID ≤ 1 < l whole < m at TID 0
// < ... A layer without temporal layers has one step, the whole layer (tidAll). rankAny and
// rankPause keep their meaning and order (rankOrder).

// newStep is the step of a layer rank at temporal cap tid.
func newStep(rank, tid int32) int32 { return rank<<2 | tid }

// stepRank is a step's simulcast rank (rankAny and rankPause map to themselves).
func stepRank(st int32) int32 {
	if st <= rankAny {
		return st
	}
	return st >> 2
}

// stepTID is a step's temporal cap (tidAll for rankAny and rankPause).
func stepTID(st int32) int32 {
	if st <= rankAny {
		return tidAll
	}
	return st & 3
}

// stepName names a step for logs: "m", "h/t0" (h up to TID 0), "pause", "any".
func stepName(st int32) string {
	switch st {
	case rankPause:
		return "pause"
	case rankAny:
		return "any"
	}
	name := rankName(stepRank(st))
	if name == "" {
		name = "single" // a track without simulcast
	}
	if st > rankAny && stepTID(st) != tidAll {
		name += "/t" + strconv.Itoa(int(stepTID(st)))
	}
	return name
}

// eachStep calls f with every step of the live layers and its bitrate, from low to high,
// until f returns false. A layer with temporal layers offers one step per cap below its top.
func (a *allocator) eachStep(now time.Time, f func(st int32, rate uint64) bool) {
	for _, l := range a.d.slot.layersByQuality() {
		if !l.Alive(now) {
			continue
		}
		r := int32(layerRank(l.rid))
		for tid := int32(0); tid < int32(l.TemporalLayers())-1; tid++ {
			if !f(newStep(r, tid), l.BitrateUpTo(tid)) {
				return
			}
		}
		if !f(newStep(r, tidAll), l.Bitrate()) {
			return
		}
	}
}
