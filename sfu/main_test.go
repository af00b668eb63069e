package sfu_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests in package sfu_test run whole nodes (internal/testnode): an SFU with WHIP/WHEP
// signaling on loopback and pion peers, to test forwarding, layers, bandwidth estimation,
// repair and reports end to end. TestMain checks that no goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
