package limits

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// BodyDeadline gives a request's body at most d to arrive: the connection's read deadline
// is set for the body only and cleared once all of it is read, so a slow body cannot
// hold a handler, while an event stream or a blocking reload (no body) is not cut.
// http.Server.ReadTimeout cannot do this: it stays armed while the handler runs and then
// cancels long responses.
func BodyDeadline(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // a writer without deadlines (tests' recorders): no bound
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody clears the read deadline when the whole body has arrived. A body cut short
// (the deadline, a client gone) keeps it, so the server's discarding of the rest after the
// handler ends is bounded too and the connection is closed.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	}
	return n, err
}
