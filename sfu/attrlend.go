package sfu

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// attrLender is an interceptor that lends every outgoing RTP packet an attributes map from a
// pool. pion's track writer passes nil attributes, and pion's GCC (cc interceptor) makes a
// new map for each packet to record its transport-cc extension id in: one allocation per
// packet per transport-cc viewer, ≈ 200 bytes of garbage. Registered outermost on a viewer
// connection with the estimator, it hands the estimator a map that already exists; the map
// is cleared and returned once the packet has been written. Safe because nothing in the
// viewer's chain keeps the attributes after Write returns (the estimator's own pacer would
// copy them; the viewer's pacer, ssrcPacer, passes them through).
type attrLender struct {
	interceptor.NoOp
}

type attrLenderFactory struct{}

// NewInterceptor implements interceptor.Factory.
func (attrLenderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &attrLender{}, nil
}

var attributesPool = sync.Pool{New: func() any { return &interceptor.Attributes{} }}

// BindLocalStream wraps the stream's writer.
func (*attrLender) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if a != nil {
			return w.Write(h, payload, a)
		}
		m := attributesPool.Get().(*interceptor.Attributes)
		if *m == nil {
			*m = interceptor.Attributes{}
		}
		n, err := w.Write(h, payload, *m)
		clear(*m)
		attributesPool.Put(m)
		return n, err
	})
}

// lendAttributes adds attrLender to a viewer's interceptors, outermost, when pion's GCC is
// among them (gcc: transport-cc viewers); otherwise nothing reads the attributes.
func lendAttributes(ir *interceptor.Registry, gcc bool) {
	if gcc {
		ir.Add(attrLenderFactory{})
	}
}
