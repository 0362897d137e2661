package connect

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is an exponential backoff with jitter: 100ms, 200ms, ... up to max.
type backoff struct {
	max     time.Duration
	first   time.Duration // the first step; 0 means 100ms
	attempt int
}

func (b *backoff) next() time.Duration {
	first := b.first
	if first <= 0 {
		first = 100 * time.Millisecond
	}
	d := first << min(b.attempt, 16)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.attempt++
	// Up to 20% jitter, so many tasks retrying the same broker spread out.
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func (b *backoff) reset() { b.attempt = 0 }

// sleepCtx sleeps for d or until ctx is done, and reports whether it slept
// the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
