package sfu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	piongcc "github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/sfu/gcc"
)

// initialEstimate is where a viewer's bandwidth estimate starts: high enough for the top
// layer of a typical simulcast, so that unconstrained viewers start there and constrained
// ones fall within a second or two of congestion feedback.
const initialEstimate = 3_000_000

// minEstimate is the least a delay-based estimate falls to, in bit/s.
const minEstimate = 30_000

// viewerBWE is one viewer's send-side bandwidth estimate: Google congestion control driven
// by the viewer's transport-wide CC feedback (which has its own loss-based part; pion's
// estimator, or Glint's own in sfu/gcc, by Options.ViewerBWE); or the
// lower of its REMB and the loss-based estimate of its receiver reports (as libwebrtc takes
// the lower of its delay-based and loss-based estimates); or the loss-based estimate alone
// for a viewer that sends receiver reports and NACKs only. It also holds the viewer's
// egress pacer, whose byte count the loss-based estimate reads.
type viewerBWE struct {
	pacer     *ssrcPacer
	pace      pacer
	loss      *lossBWE
	estimator atomic.Pointer[targetEstimator]
	twcc      atomic.Bool   // transport-cc negotiated: the GCC estimate is meaningful
	remb      atomic.Uint64 // latest REMB bitrate, bit/s
	rembAt    atomic.Int64  // unix nanos of the latest REMB
}

// targetEstimator is what a viewer's estimate reads of its delay-based estimator: pion's
// cc.BandwidthEstimator or Glint's *gcc.Estimator.
type targetEstimator interface{ GetTargetBitrate() int }

// viewerInterceptors builds a viewer's interceptors: the GCC estimator (fed by TWCC
// feedback) and the TWCC sequence-number header extension, in that order so that the
// estimator sees the sequence number each packet leaves with. No report interceptors: a
// viewer sends the SFU no media (nothing to make receiver reports of), and the downtracks
// make their own sender reports from the source's timing (sfu/senderreport.go), which
// pion's, taken from the moment each packet leaves, would contradict. With remb (the viewer
// estimates its own bandwidth and sends REMB; Options.ViewerBWE) there are none at all: no
// per-packet send history, no feedback to process — about half the server's CPU per viewer.
// With gcc, the estimator is Glint's own (sfu/gcc): the same control loop without pion's
// per-packet allocations, locks and feedback unmarshalling.
func viewerInterceptors(me *webrtc.MediaEngine, bwe *viewerBWE, mode string) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	bwe.pacer = newSSRCPacer()
	switch mode {
	case ViewerBWEREMB:
		return ir, nil
	case ViewerBWETransportCC:
		ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
			return piongcc.NewSendSideBWE(piongcc.SendSideBWEInitialBitrate(initialEstimate),
				piongcc.SendSideBWEMinBitrate(minEstimate), piongcc.SendSideBWEPacer(bwe.pacer))
		})
		if err != nil {
			return nil, fmt.Errorf("congestion control: %w", err)
		}
		ccf.OnNewPeerConnection(func(_ string, est cc.BandwidthEstimator) { bwe.setEstimator(est) })
		ir.Add(ccf)
	default: // ViewerBWEGCC
		ir.Add(gcc.NewInterceptorFactory(
			gcc.WithConfig(gcc.Config{InitialBitrate: initialEstimate, MinBitrate: minEstimate}),
			gcc.OnNewEstimator(func(_ string, est *gcc.Estimator) { bwe.setEstimator(est) })))
		return ir, negotiateTransportCC(me) // sfu/gcc numbers the packets itself
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, ir); err != nil {
		return nil, fmt.Errorf("twcc header extension: %w", err)
	}
	return ir, nil
}

// setEstimator keeps the connection's delay-based estimator, which its interceptor made.
func (b *viewerBWE) setEstimator(e targetEstimator) { b.estimator.Store(&e) }

func newViewerBWE() *viewerBWE {
	return &viewerBWE{pace: newLeakyBucket(), loss: newLossBWE(initialEstimate, time.Now())}
}

// estimate returns the viewer's available bandwidth in bit/s, or 0 while unknown.
func (b *viewerBWE) estimate(now time.Time) uint64 {
	if b.twcc.Load() {
		if e := b.estimator.Load(); e != nil {
			return uint64((*e).GetTargetBitrate())
		}
	}
	lossEst, fromReports := b.loss.value()
	if now.UnixNano()-b.rembAt.Load() < int64(5*time.Second) {
		if remb := b.remb.Load(); !fromReports || remb < lossEst {
			return remb
		}
		return lossEst
	}
	if fromReports {
		return lossEst
	}
	return 0
}

// headroom returns the share above a layer's bitrate that the estimate must have for the
// layer to fit: headroom, or lossHeadroom for an estimate from receiver reports alone. Those
// show loss but not the queue that builds before it, so a layer that fills the path to 90 %
// fits by them, and then every probe or keyframe overruns the path's queue, whose repairs take
// seconds to get through the little room left: such a viewer is kept further below its path.
func (b *viewerBWE) headroom(now time.Time) float64 {
	if b.twcc.Load() || now.UnixNano()-b.rembAt.Load() < int64(5*time.Second) {
		return headroom
	}
	return lossHeadroom
}

// onLossReport feeds the loss-based estimate a receiver report of the viewer's video.
func (b *viewerBWE) onLossReport(s lossSample, now time.Time) {
	s.sentBytes = b.pace.sent()
	b.loss.onReport(s, now)
}

// congested reports whether the viewer's receiver reports showed heavy loss lately, or
// whether it sends none at all (then the estimate alone decides).
func (b *viewerBWE) congested(now time.Time) bool {
	if _, fromReports := b.loss.value(); !fromReports {
		return true
	}
	return b.loss.heavyLoss(now)
}

func (b *viewerBWE) onREMB(bitrate float32) {
	b.remb.Store(uint64(bitrate))
	b.rembAt.Store(time.Now().UnixNano())
}

func (b *viewerBWE) close() {
	if e := b.estimator.Load(); e != nil {
		if c, ok := (*e).(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// ssrcPacer is a gcc.Pacer that sends at once (no queue, so no added latency) and also
// routes packets of a stream's RTX SSRC, which the estimator does not register itself.
type ssrcPacer struct {
	mu      sync.RWMutex
	writers map[uint32]interceptor.RTPWriter
	aliases map[uint32]uint32
}

func newSSRCPacer() *ssrcPacer {
	return &ssrcPacer{writers: map[uint32]interceptor.RTPWriter{}, aliases: map[uint32]uint32{}}
}

func (p *ssrcPacer) SetTargetBitrate(int) {}

func (p *ssrcPacer) AddStream(ssrc uint32, w interceptor.RTPWriter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writers[ssrc] = w
}

// alias routes packets of ssrc (an RTX stream) through the writer of main.
func (p *ssrcPacer) alias(ssrc, main uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aliases[ssrc] = main
}

func (p *ssrcPacer) Write(h *rtp.Header, payload []byte, attrs interceptor.Attributes) (int, error) {
	p.mu.RLock()
	w, ok := p.writers[h.SSRC]
	if !ok {
		w, ok = p.writers[p.aliases[h.SSRC]]
	}
	p.mu.RUnlock()
	if !ok {
		return 0, fmt.Errorf("pacer: unknown ssrc %d", h.SSRC)
	}
	return w.Write(h, payload, attrs)
}

func (p *ssrcPacer) Close() error { return nil }
