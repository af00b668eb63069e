//go:build !unix

package loadtest

import "time"

// selfCPU is not measured on this platform.
func selfCPU() time.Duration { return 0 }
