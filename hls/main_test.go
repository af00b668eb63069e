package hls

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: the package starts none,
// and every blocked request must end with its part, its timeout or Stream.Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
