package gcc

import (
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// InterceptorFactory makes one Interceptor, with its own Estimator, per peer connection.
type InterceptorFactory struct {
	config Config
	onNew  func(id string, e *Estimator)
}

// Option configures an InterceptorFactory.
type Option func(*InterceptorFactory)

// WithConfig sets the estimators' bounds.
func WithConfig(c Config) Option { return func(f *InterceptorFactory) { f.config = c } }

// OnNewEstimator sets a function called with each new connection's estimator.
func OnNewEstimator(fn func(id string, e *Estimator)) Option {
	return func(f *InterceptorFactory) { f.onNew = fn }
}

// NewInterceptorFactory returns a factory of estimating interceptors. The transport-wide
// sequence numbers are another interceptor's to write (pion's twcc.HeaderExtensionInterceptor,
// registered after this one so that it runs first on the way out).
func NewInterceptorFactory(opts ...Option) *InterceptorFactory {
	f := &InterceptorFactory{}
	for _, o := range opts {
		o(f)
	}
	return f
}

// NewInterceptor implements interceptor.Factory.
func (f *InterceptorFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	e := New(f.config)
	if f.onNew != nil {
		f.onNew(id, e)
	}
	return &Interceptor{estimator: e}, nil
}

// Interceptor feeds its Estimator the connection's outgoing packets and incoming feedback.
type Interceptor struct {
	interceptor.NoOp
	estimator *Estimator
}

// Estimator returns the connection's estimator.
func (i *Interceptor) Estimator() *Estimator { return i.estimator }

// BindLocalStream records every packet of the stream that carries a transport-wide
// sequence number.
func (i *Interceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, ext := range info.RTPHeaderExtensions {
		if ext.URI == sdp.TransportCCURI {
			id = uint8(ext.ID)
		}
	}
	if id == 0 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if ext := h.GetExtension(id); len(ext) >= 2 {
			i.estimator.OnSent(uint16(ext[0])<<8|uint16(ext[1]), h.MarshalSize()+len(payload), time.Now())
		}
		return w.Write(h, payload, a)
	})
}

// BindRTCPReader reads transport-cc feedback as it passes; every packet goes on unchanged.
func (i *Interceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err == nil {
			i.estimator.OnRTCP(b[:n], time.Now())
		}
		return n, a, err
	})
}
