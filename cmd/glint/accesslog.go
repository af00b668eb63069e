package main

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// accessLog logs one line per request once it is answered: method, path (query values
// other than the LL-HLS/DVR directives redacted, so tokens and signatures never reach the
// log), status, bytes, duration, the client's address, and the room and session when the
// URL or the answer's Location names them.
func accessLog(next http.Handler, log *slog.Logger, clientIP func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		room, session := roomAndSession(r.URL.Path)
		if loc := rec.Header().Get("Location"); session == "" && loc != "" {
			_, session = roomAndSession(loc)
		}
		attrs := []any{"method", r.Method, "path", redactedPath(r.URL), "status", rec.status, "bytes", rec.bytes,
			"duration", time.Since(start), "remote", clientIP(r), "proto", r.Proto}
		if room != "" {
			attrs = append(attrs, "room", room)
		}
		if session != "" {
			attrs = append(attrs, "session", session)
		}
		log.Info("http", attrs...)
	})
}

// recordingWriter counts what a handler writes; Unwrap keeps http.ResponseController
// (flush, deadlines) working through it.
type recordingWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	written bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if !w.written && code >= 200 {
		w.status, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.written = true
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush lets event streams flush through the recorder.
func (w *recordingWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// loggedQueryKeys are the query keys whose values are logged: playback directives, never
// credentials.
var loggedQueryKeys = map[string]bool{"_HLS_msn": true, "_HLS_part": true, "_HLS_skip": true, "start": true, "t": true, "recording": true}

func redactedPath(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return u.Path + "?(unparsable query)"
	}
	for k, vs := range q {
		if !loggedQueryKeys[k] {
			for i := range vs {
				vs[i] = "REDACTED"
			}
		}
	}
	return u.Path + "?" + q.Encode()
}

// roomAndSession reads the room and session out of a URL path of the signaling, LL-HLS,
// DVR and API endpoints.
func roomAndSession(path string) (room, session string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	get := func(i int) string {
		if i < len(parts) {
			return parts[i]
		}
		return ""
	}
	switch get(0) {
	case "whip", "whep":
		return get(1), get(2)
	case "hls", "dvr":
		if get(1) == "recordings" {
			return "", ""
		}
		return get(1), ""
	case "api":
		switch get(1) {
		case "rooms":
			return get(2), ""
		case "sessions":
			return "", get(2)
		}
	}
	return "", ""
}
