package testkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// failureLogLines is how many of the last log lines NewLogger prints when a test fails.
const failureLogLines = 200

// LogSink collects log output for assertions; it is safe for concurrent writers and readers.
type LogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *LogSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Contains reports whether s has been written.
func (l *LogSink) Contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.buf.Bytes(), []byte(s))
}

// Tail returns the last n lines written.
func (l *LogSink) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Line returns the first line that contains every one of parts.
func (l *LogSink) Line(parts ...string) (string, bool) {
	for _, line := range strings.Split(l.String(), "\n") {
		if containsAll(line, parts) {
			return line, true
		}
	}
	return "", false
}

// WaitFor waits until a line contains every one of parts and returns the first such line;
// it fails the test when ctx ends first.
func (l *LogSink) WaitFor(t testing.TB, ctx context.Context, parts ...string) string {
	t.Helper()
	var found string
	Eventually(t, ctx, fmt.Sprintf("a log line with %q", parts), func() bool {
		var ok bool
		found, ok = l.Line(parts...)
		return ok
	})
	return found
}

func containsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

// NewLogger returns a debug-level text logger that writes into a new LogSink (and to stderr
// too when the environment has GLINT_TEST_LOG set). When the test fails, its last lines go
// to the test log.
func NewLogger(t testing.TB) (*slog.Logger, *LogSink) {
	sink := &LogSink{}
	var w io.Writer = sink
	if os.Getenv("GLINT_TEST_LOG") != "" {
		w = io.MultiWriter(sink, os.Stderr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last %d log lines:\n%s", failureLogLines, sink.Tail(failureLogLines))
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), sink
}
