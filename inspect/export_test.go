package inspect

import "time"

// SetClock makes in read the time from now.
func SetClock(in *Inspector, now func() time.Time) { in.now = now }

// SetReadIdle sets how long partition readers wait for records, and returns
// a function that restores it.
func SetReadIdle(d time.Duration) func() {
	old := readIdle
	readIdle = d
	return func() { readIdle = old }
}
