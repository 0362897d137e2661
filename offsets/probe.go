package offsets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrUnreachable is wrapped by ProbeCluster when no broker of the cluster
// answered: all of them refused the connection, timed out or failed the
// request.
var ErrUnreachable = errors.New("cluster unreachable")

// DefaultProbeTimeout is how long ProbeCluster waits when given no timeout:
// long enough for a broker across a WAN to answer one metadata request,
// short enough that a failover does not wait on a dead cluster.
const DefaultProbeTimeout = 5 * time.Second

// ProbeCluster asks whether the cluster that cl reaches answers: one
// metadata request (no topics) to each known broker and each seed broker in
// turn, each tried once, all within timeout (DefaultProbeTimeout when zero
// or less). It returns nil as soon as one broker answers, and otherwise an
// error wrapping ErrUnreachable and the last broker's error ("connection
// refused", a TLS or SASL failure, or the deadline).
//
// A failover calls it before translating, to choose between the group's
// commits on the source and its checkpoints on the target: a request to a
// dead cluster would otherwise retry for kgo's RetryTimeout (30 s and more).
func ProbeCluster(ctx context.Context, cl *kgo.Client, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := cl.Ping(pctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case pctx.Err() != nil:
		return fmt.Errorf("%w: no broker answered within %v (%v)", ErrUnreachable, timeout, err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}
