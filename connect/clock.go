package connect

import (
	"sync/atomic"
	"time"
)

// coarseClock is the wall clock in Unix milliseconds for the metrics the
// worker records per acknowledged record (MM2's replication-latency-ms):
// time.Now costs about 80 ns on a virtual machine, more than the rest of that
// bookkeeping, while a load of this clock costs one atomic read. One
// goroutine refreshes it every millisecond while the worker runs, which is
// the resolution of MM2's System.currentTimeMillis. Outside Run (tests of a
// single partition) it reads time.Now.
type coarseClock struct{ ms atomic.Int64 }

// nowMs returns the time in Unix milliseconds.
func (c *coarseClock) nowMs() int64 {
	if v := c.ms.Load(); v != 0 {
		return v
	}
	return time.Now().UnixMilli()
}

// start begins refreshing the clock; stop ends it and waits for the
// goroutine.
func (c *coarseClock) start() (stop func()) {
	c.ms.Store(time.Now().UnixMilli())
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c.ms.Store(time.Now().UnixMilli())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		c.ms.Store(0)
	}
}
