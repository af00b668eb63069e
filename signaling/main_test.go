package signaling_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests in package signaling_test run a whole node (internal/testnode) and check the
// WHIP/WHEP HTTP behaviour: bad input, trickle, ICE transports, the lifecycle of sessions.
// TestMain checks that no goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
