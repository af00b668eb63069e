package events

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no socket, data channel or room-watch goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
