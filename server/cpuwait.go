package server

import (
	"bytes"
	"strconv"
	"sync"
)

// cpuWait is how long this process's threads have been ready to run but
// waited for a CPU: the run delay the kernel keeps per thread (Linux's
// /proc/self/task/*/schedstat). Set beside process_cpu_seconds_total it
// says whether a node is short of cores, or shares them: a thread that
// waits is a request that waits, and on a virtual machine a thread woken
// on an idle core waits for the core to be woken too.
//
// Threads come and go, so each thread's last reading is kept and only its
// growth is added: the total never falls (the waiting of a thread between
// the last reading and its end is lost).
type cpuWait struct {
	read func() (map[int]uint64, error) // thread id -> run delay in ns

	mu    sync.Mutex
	last  map[int]uint64
	total uint64
}

// seconds reads every thread again and returns the total so far.
func (c *cpuWait) seconds() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, err := c.read()
	if err == nil {
		for tid, v := range now {
			prev, seen := c.last[tid]
			switch {
			case !seen:
				c.total += v // all of a new thread's waiting is new
			case v >= prev:
				c.total += v - prev
			default:
				c.total += v // a new thread with an old one's id
			}
		}
		c.last = now
	}
	return float64(c.total) / 1e9
}

// parseSchedstat returns the second field of a schedstat file: "<time on
// a CPU> <time waiting for one> <timeslices>", in ns.
func parseSchedstat(b []byte) (uint64, bool) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
