package gcc

import (
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// simLink is a path of fixed capacity in virtual time: a drop-tail queue of at most
// queueLimit of delay, then propDelay; the receiver's transport-cc recorder (pion's, as a
// browser's would) reports every feedbackEvery. The sender sends 1200-byte packets at the
// estimator's target, as a paced encoder would.
type simLink struct {
	t          *testing.T
	est        *Estimator
	base       time.Time
	now        time.Duration
	capacity   int // bit/s
	queueLimit time.Duration
	propDelay  time.Duration
	linkFree   time.Duration
	seq        uint16
	tokens     float64
	inFlight   []simPacket
	recorder   *twcc.Recorder
	nextReport time.Duration
}

type simPacket struct {
	seq     uint16
	arrival time.Duration
}

const simPacketBytes = 1200

func newSimLink(t *testing.T, capacity int) *simLink {
	return &simLink{t: t, est: New(Config{}), base: time.Now(), capacity: capacity,
		queueLimit: 300 * time.Millisecond, propDelay: 20 * time.Millisecond, recorder: twcc.NewRecorder(1),
		nextReport: 50 * time.Millisecond}
}

// run advances virtual time by d in 1 ms steps and calls sample every 100 ms.
func (l *simLink) run(d time.Duration, sample func(now time.Duration, estimate int)) {
	for end := l.now + d; l.now < end; l.now += time.Millisecond {
		l.tokens = min(l.tokens+float64(l.est.GetTargetBitrate())/1000, 10*simPacketBytes*8)
		for l.tokens >= simPacketBytes*8 {
			l.tokens -= simPacketBytes * 8
			l.send()
		}
		l.deliver()
		if l.now >= l.nextReport {
			l.nextReport += 50 * time.Millisecond
			l.report()
		}
		if sample != nil && l.now%(100*time.Millisecond) == 0 {
			sample(l.now, l.est.GetTargetBitrate())
		}
	}
}

func (l *simLink) send() {
	l.seq++
	l.est.OnSent(l.seq, simPacketBytes, l.base.Add(l.now))
	start := max(l.now, l.linkFree)
	if start-l.now > l.queueLimit {
		return // dropped: the queue is full
	}
	l.linkFree = start + time.Duration(simPacketBytes*8*int64(time.Second)/int64(l.capacity))
	l.inFlight = append(l.inFlight, simPacket{seq: l.seq, arrival: l.linkFree + l.propDelay})
}

func (l *simLink) deliver() {
	n := 0
	for _, p := range l.inFlight {
		if p.arrival > l.now {
			break
		}
		l.recorder.Record(1, p.seq, (l.base.Add(p.arrival)).UnixMicro())
		n++
	}
	l.inFlight = l.inFlight[n:]
}

func (l *simLink) report() {
	for _, p := range l.recorder.BuildFeedbackPacket() {
		raw, err := p.Marshal()
		if err != nil {
			l.t.Fatal(err)
		}
		if _, ok := p.(*rtcp.TransportLayerCC); !ok {
			continue
		}
		// The feedback takes propDelay back to the sender.
		l.est.OnRTCP(raw, l.base.Add(l.now+l.propDelay))
	}
}
