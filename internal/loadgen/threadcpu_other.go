//go:build !linux

package loadgen

import "time"

// threadCPU cannot read a thread's CPU time here: the ES256 rates fall
// back to the wall clock.
func threadCPU() (time.Duration, bool) { return 0, false }
