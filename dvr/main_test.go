package dvr

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a Library's workers,
// retention and deferred deletions all end with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
