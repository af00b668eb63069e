package gcc

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultInitialBitrate = 3_000_000
	DefaultMinBitrate     = 30_000
	DefaultMaxBitrate     = 50_000_000
)

// Config sets an estimator's bounds; zero fields take the defaults.
type Config struct {
	InitialBitrate int // bit/s
	MinBitrate     int
	MaxBitrate     int
}

func (c Config) withDefaults() Config {
	if c.InitialBitrate <= 0 {
		c.InitialBitrate = DefaultInitialBitrate
	}
	if c.MinBitrate <= 0 {
		c.MinBitrate = DefaultMinBitrate
	}
	if c.MaxBitrate <= 0 {
		c.MaxBitrate = DefaultMaxBitrate
	}
	c.MaxBitrate = max(c.MaxBitrate, c.MinBitrate)
	c.InitialBitrate = min(max(c.InitialBitrate, c.MinBitrate), c.MaxBitrate)
	return c
}

// ack is one packet's fate as a feedback packet reports it.
type ack struct {
	sent, arrival time.Duration // arrival in the receiver's clock; only for received packets
	size          int
	received      bool
}

// Estimator is one connection's bandwidth estimate. OnSent is safe to call from any
// goroutine; OnRTCP from one at a time (pion's RTCP reader); GetTargetBitrate from any.
type Estimator struct {
	start   time.Time
	history sendHistory
	target  atomic.Int64
	nextSeq atomic.Uint32 // the connection's next transport-wide sequence number (low 16 bits)

	mu         sync.Mutex // the feedback state below
	acks       []ack      // one feedback packet's, reused
	reference  int64      // unwrapped reference time of the feedback being read, in 64 ms
	lastRefRaw uint32
	haveRef    bool
	groups     interArrival
	trend      *trendline
	acked      ackedRate
	rate       *aimd
	loss       lossBased
}

// New returns an estimator starting at cfg's initial bitrate.
func New(cfg Config) *Estimator {
	cfg = cfg.withDefaults()
	e := &Estimator{
		start: time.Now(),
		acks:  make([]ack, 0, historySize),
		trend: newTrendline(),
		rate:  newAIMD(cfg.InitialBitrate, cfg.MinBitrate, cfg.MaxBitrate),
	}
	e.target.Store(int64(cfg.InitialBitrate))
	return e
}

// GetTargetBitrate returns the estimate in bit/s.
func (e *Estimator) GetTargetBitrate() int { return int(e.target.Load()) }

// OnSent records that the packet with transport-wide sequence number seq, size bytes, left
// at now. It allocates nothing.
func (e *Estimator) OnSent(seq uint16, size int, now time.Time) {
	e.history.record(seq, size, now.Sub(e.start))
}

// OnRTCP reads the transport-cc feedback in the compound RTCP packet b, received at now,
// and updates the estimate. b is not changed or kept.
func (e *Estimator) OnRTCP(b []byte, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.history.mu.Lock()
	walkCompound(b, e)
	e.history.mu.Unlock()
	e.update(now.Sub(e.start))
}

// onFeedbackStart implements feedbackVisitor: it unwraps the 24-bit reference time.
func (e *Estimator) onFeedbackStart(raw uint32) {
	if !e.haveRef {
		e.reference, e.haveRef = int64(raw), true
	} else {
		diff := int64(int32((raw-e.lastRefRaw)<<8) >> 8) // signed 24-bit difference
		e.reference += diff
	}
	e.lastRefRaw = raw
}

// onPacketStatus implements feedbackVisitor: it pairs the status with the packet sent.
func (e *Estimator) onPacketStatus(seq uint16, received bool, since time.Duration) {
	p, ok := e.history.take(seq)
	if !ok {
		return
	}
	a := ack{sent: p.sent, size: int(p.size), received: received}
	if received {
		a.arrival = time.Duration(e.reference)*referenceUnit + since
	}
	e.acks = append(e.acks, a)
}

// update runs the acknowledgments of the feedback read through the estimators.
func (e *Estimator) update(now time.Duration) {
	if len(e.acks) == 0 {
		return
	}
	lost, overused := 0, false
	hypothesis := e.trend.hypothesis
	var lastArrival time.Duration
	for _, a := range e.acks {
		if !a.received {
			lost++
			continue
		}
		lastArrival = max(lastArrival, a.arrival)
		e.acked.onReceived(a.arrival, a.size)
		if d, ok := e.groups.onPacket(a.sent, a.arrival, a.size); ok {
			hypothesis = e.trend.update(d)
			overused = overused || hypothesis == usageOver
		}
	}
	if rtt, ok := e.feedbackRTT(now, lastArrival); ok {
		e.rate.setRTT(rtt)
	}
	if overused {
		hypothesis = usageOver
	}
	delay := e.rate.update(hypothesis, e.acked.bitrate(), now)
	target := e.loss.onFeedback(lost, len(e.acks), e.acked.bitrate(), delay, now)
	e.target.Store(int64(max(min(target, delay), e.rate.minBitrate)))
	e.acks = e.acks[:0]
}

// feedbackRTT is the least round trip among the feedback's received packets: the time from
// sending each until now, less the time the receiver held it before the feedback left
// (taken as the feedback's last arrival).
func (e *Estimator) feedbackRTT(now, lastArrival time.Duration) (time.Duration, bool) {
	best := time.Duration(math.MaxInt64)
	for _, a := range e.acks {
		if a.received {
			best = min(best, now-a.sent-(lastArrival-a.arrival))
		}
	}
	if best == math.MaxInt64 || best < 0 {
		return 0, false
	}
	return best, true
}
