package server

import (
	"os"
	"strconv"
)

// threadWaits reads every thread's run delay from /proc/self/task.
func threadWaits() (map[int]uint64, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	out := make(map[int]uint64, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/schedstat")
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread ended
			}
			return nil, err
		}
		if v, ok := parseSchedstat(b); ok {
			out[tid] = v
		}
	}
	return out, nil
}

// newCPUWait is nil where the kernel keeps no schedstat (built without
// CONFIG_SCHED_INFO): the metric is then left out.
func newCPUWait() *cpuWait {
	w, err := threadWaits()
	if err != nil || len(w) == 0 {
		return nil
	}
	return &cpuWait{read: threadWaits}
}
