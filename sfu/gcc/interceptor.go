package gcc

import (
	"time"

	"github.com/pion/interceptor"
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

// NewInterceptorFactory returns a factory of estimating interceptors. Each interceptor
// writes its connection's transport-wide sequence numbers itself (allocation-free, see
// sequencedWriter): pion's twcc.HeaderExtensionInterceptor must not be registered with it,
// only the extension negotiated (its URI, sdp.TransportCCURI, registered with the media
// engine for audio and video).
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

// Interceptor numbers the connection's outgoing packets with the transport-wide sequence
// and feeds its Estimator those packets and the incoming feedback.
type Interceptor struct {
	interceptor.NoOp
	estimator *Estimator
}

// Estimator returns the connection's estimator.
func (i *Interceptor) Estimator() *Estimator { return i.estimator }

// BindLocalStream numbers and records every packet of a stream that negotiated the
// transport-wide sequence extension; other streams' packets pass untouched.
func (i *Interceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	id := transportCCID(info)
	if id == 0 {
		return w
	}
	return &sequencedWriter{conn: i, next: w, id: id}
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
