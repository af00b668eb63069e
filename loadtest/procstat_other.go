//go:build !linux

package loadtest

import (
	"errors"
	"time"
)

// machineCPU is not measured on this platform.
func machineCPU() time.Duration { return 0 }

// processStat is not measured on this platform (use the server's /metrics instead).
func processStat(int) (time.Duration, int64, error) {
	return 0, 0, errors.New("--server-pid works on Linux only; use --metrics-url")
}
