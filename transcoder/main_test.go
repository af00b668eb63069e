package transcoder

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/asticode/go-astiav"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelError) // libx264 prints its settings at info level
	goleak.VerifyTestMain(m)
}

// testLog discards output unless -v is given.
func testLog(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", tb.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
