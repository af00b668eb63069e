//go:build !linux

package loadtest

import "time"

// machineCPU is not measured on this platform.
func machineCPU() time.Duration { return 0 }
