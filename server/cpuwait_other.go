//go:build !linux

package server

// newCPUWait is nil: only Linux tells a process how long its threads
// waited for a CPU.
func newCPUWait() *cpuWait { return nil }
