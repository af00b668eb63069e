package gcc

import (
	"math"
	"time"
)

// AIMD rate control (libwebrtc's AimdRateControl): on overuse the estimate falls to
// decreaseFactor × the acknowledged rate, and the rate it fell at is remembered as the
// link's capacity; on normal use it grows — additively (about a packet per response time)
// while the acknowledged rate is near that capacity, multiplicatively (8 % a second) when it
// is far from it or unknown — never beyond 1.5 × the acknowledged rate; underuse holds it.
const (
	decreaseFactor        = 0.85
	multiplicativeGrowth  = 1.08 // per second
	minIncrease           = 1000 // bit/s per step
	minAdditivePerSecond  = 4000 // bit/s
	throughputHeadroom    = 1.5
	throughputExtra       = 10_000 // bit/s above 1.5 × the acknowledged rate
	frameInterval         = time.Second / 30
	typicalPacketBytes    = 1200
	responseTimeBase      = 100 * time.Millisecond
	capacitySmoothing     = 0.05
	capacityDeviationMin  = 0.4
	capacityDeviationMax  = 2.5
	capacityDeviationInit = 0.4
)

// rateState is the rate controller's state.
type rateState int8

const (
	stateHold rateState = iota
	stateIncrease
	stateDecrease
)

// linkCapacity is the acknowledged rate at recent overuses, with its deviation (kbit/s).
type linkCapacity struct {
	estimate, deviation float64
	known               bool
}

func (c *linkCapacity) onOveruse(ackedKbps float64) {
	if !c.known {
		c.estimate, c.deviation, c.known = ackedKbps, capacityDeviationInit, true
		return
	}
	c.estimate = (1-capacitySmoothing)*c.estimate + capacitySmoothing*ackedKbps
	norm := max(c.estimate, 1)
	err := c.estimate - ackedKbps
	c.deviation = (1-capacitySmoothing)*c.deviation + capacitySmoothing*err*err/norm
	c.deviation = min(max(c.deviation, capacityDeviationMin), capacityDeviationMax)
}

func (c *linkCapacity) spread() float64 { return 3 * math.Sqrt(c.deviation*c.estimate) }
func (c *linkCapacity) upper() float64  { return c.estimate + c.spread() }
func (c *linkCapacity) lower() float64  { return c.estimate - c.spread() }

// aimd is the delay-based rate controller.
type aimd struct {
	bitrate, minBitrate, maxBitrate int
	state                           rateState
	lastChange                      time.Duration
	changed                         bool // lastChange is set
	capacity                        linkCapacity
	rtt                             time.Duration
}

func newAIMD(initial, minBitrate, maxBitrate int) *aimd {
	return &aimd{bitrate: initial, minBitrate: minBitrate, maxBitrate: maxBitrate, state: stateIncrease,
		rtt: 200 * time.Millisecond}
}

// update moves the estimate by the detector's hypothesis and the acknowledged rate acked
// (bit/s, 0 while unknown) and returns it.
func (a *aimd) update(u usage, acked int, now time.Duration) int {
	switch u {
	case usageOver:
		if !a.timeToReduce(acked, now) {
			return a.bitrate
		}
		a.state = stateDecrease
	case usageUnder:
		a.state = stateHold
	default:
		if a.state == stateHold {
			a.state, a.lastChange, a.changed = stateIncrease, now, true
		}
	}
	throughput := float64(acked)
	if acked == 0 {
		throughput = float64(a.bitrate)
	}
	switch a.state {
	case stateIncrease:
		a.increase(throughput, acked > 0, now)
	case stateDecrease:
		a.decrease(throughput, now)
	}
	return a.bitrate
}

func (a *aimd) increase(throughput float64, measured bool, now time.Duration) {
	kbps := throughput / 1000
	if a.capacity.known && kbps > a.capacity.upper() {
		a.capacity = linkCapacity{} // far above the old capacity: the path has changed
	}
	var grown float64
	if a.capacity.known {
		grown = float64(a.bitrate) + a.additive(now)
	} else {
		grown = float64(a.bitrate) + a.multiplicative(now)
	}
	limit := throughputHeadroom*throughput + throughputExtra
	if !measured {
		limit = math.Inf(1)
	}
	if float64(a.bitrate) < limit {
		a.bitrate = a.clamp(int(min(grown, limit)))
	}
	a.lastChange, a.changed = now, true
}

func (a *aimd) decrease(throughput float64, now time.Duration) {
	decreased := decreaseFactor * throughput
	if decreased > float64(a.bitrate) && a.capacity.known {
		decreased = decreaseFactor * a.capacity.estimate * 1000
	}
	if decreased < float64(a.bitrate) {
		a.bitrate = a.clamp(int(decreased))
	}
	kbps := throughput / 1000
	if a.capacity.known && kbps < a.capacity.lower() {
		a.capacity = linkCapacity{}
	}
	a.capacity.onOveruse(kbps)
	a.state = stateHold
	a.lastChange, a.changed = now, true
}

// multiplicative is the growth far from the link's capacity: 8 % a second.
func (a *aimd) multiplicative(now time.Duration) float64 {
	alpha := multiplicativeGrowth
	if a.changed {
		alpha = math.Pow(multiplicativeGrowth, min((now-a.lastChange).Seconds(), 1))
	}
	return max(float64(a.bitrate)*(alpha-1), minIncrease)
}

// additive is the growth near the link's capacity: about one packet per response time.
func (a *aimd) additive(now time.Duration) float64 {
	frameBits := float64(a.bitrate) * frameInterval.Seconds()
	packets := math.Ceil(frameBits / (typicalPacketBytes * 8))
	packetBits := frameBits / packets
	perSecond := max(packetBits/(a.rtt+responseTimeBase).Seconds(), minAdditivePerSecond)
	if !a.changed {
		return 0
	}
	return perSecond * (now - a.lastChange).Seconds()
}

// timeToReduce reports whether overuse may cut the estimate again: a round trip (10-200 ms)
// after its last change, so that one congestion episode is one cut, or at once when the
// acknowledged rate is below half the estimate.
func (a *aimd) timeToReduce(acked int, now time.Duration) bool {
	if !a.changed || (acked > 0 && float64(acked) < 0.5*float64(a.bitrate)) {
		return true
	}
	return now-a.lastChange >= min(max(a.rtt, 10*time.Millisecond), 200*time.Millisecond)
}

// setRTT records the latest round-trip time, which paces the additive increase.
func (a *aimd) setRTT(rtt time.Duration) { a.rtt = rtt }

func (a *aimd) clamp(bitrate int) int { return min(max(bitrate, a.minBitrate), a.maxBitrate) }
