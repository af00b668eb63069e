package llhls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// statusError is a response other than 200.
type statusError struct {
	url  string
	code int
}

func (e *statusError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.url, e.code) }

// httpStatus returns the HTTP status of err, or 0.
func httpStatus(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	return 0
}

// get fetches u into buf (reused, grown as needed) and returns the body and when it was
// completely read.
func (v *viewer) get(ctx context.Context, u *url.URL, buf []byte) ([]byte, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return buf[:0], time.Time{}, fmt.Errorf("llhls: %w", err)
	}
	res, err := v.client.Do(req)
	if err != nil {
		return buf[:0], time.Time{}, fmt.Errorf("llhls: GET %s: %w", u.Redacted(), err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return buf[:0], time.Time{}, &statusError{url: u.Redacted(), code: res.StatusCode}
	}
	body, err := readAll(res.Body, buf[:0], res.ContentLength)
	if err != nil {
		return body, time.Time{}, fmt.Errorf("llhls: GET %s: %w", u.Redacted(), err)
	}
	return body, time.Now(), nil
}

// readAll appends r to buf, growing it at most once when the length is known.
func readAll(r io.Reader, buf []byte, length int64) ([]byte, error) {
	if length > 0 && int64(cap(buf)-len(buf)) < length && length < 1<<30 {
		nb := make([]byte, len(buf), len(buf)+int(length)+512)
		copy(nb, buf)
		buf = nb
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// withDirectives returns the media playlist URL asking for part (msn, part) with a
// blocking reload.
func withDirectives(u *url.URL, msn uint64, part int) *url.URL {
	out := *u
	q := out.Query()
	q.Set("_HLS_msn", strconv.FormatUint(msn, 10))
	q.Set("_HLS_part", strconv.Itoa(part))
	out.RawQuery = q.Encode()
	return &out
}

// backoff doubles a retry delay up to a cap.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }

// wait sleeps the next delay (100 ms, doubling up to 2 s); false when ctx ended.
func (b *backoff) wait(ctx context.Context) bool {
	b.d = min(max(2*b.d, 100*time.Millisecond), 2*time.Second)
	return sleep(ctx, b.d)
}
