package inspect

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// WaitOptions say what WaitCaughtUp waits for and how it reports.
type WaitOptions struct {
	// MaxLag is how many records a partition may be behind and count as
	// caught up; 0 means every record.
	MaxLag int64
	// Interval is the time between two looks; 0 means 1s.
	Interval time.Duration
	// Status narrows every look (topics, groups).
	Status StatusOptions
	// WorkerURL, when set, is a worker's REST address, asked at every look
	// for why a copy is stopped; HTTPClient asks it (nil:
	// http.DefaultClient).
	WorkerURL  string
	HTTPClient *http.Client
	// Progress, when set, is called after every look with each flow's
	// status, or the error that look ended with.
	Progress func(sts []*FlowStatus, err error)
}

// NotCaughtUpError is WaitCaughtUp's error when its context ended before
// every partition was caught up: which partitions are behind, and why.
type NotCaughtUpError struct {
	// MaxLag is the lag that was waited for.
	MaxLag int64
	// Behind are the partitions still behind at the last look, by flow.
	Behind []FlowPartition
	// LastErr is the error of the last look, when it failed (a cluster
	// that cannot be reached).
	LastErr error
	// Err is the context's error.
	Err error
}

// FlowPartition is a partition's status with its flow's name.
type FlowPartition struct {
	Flow string `json:"flow"`
	PartitionStatus
}

// Error lists the first partitions behind, with their reasons.
func (e *NotCaughtUpError) Error() string {
	var b strings.Builder
	switch {
	case len(e.Behind) == 0 && e.LastErr != nil:
		fmt.Fprintf(&b, "not caught up: %v", e.LastErr)
		return b.String()
	case len(e.Behind) == 0:
		return fmt.Sprintf("not caught up: no complete look before the end (%v)", e.Err)
	}
	fmt.Fprintf(&b, "%d partition(s) more than %d record(s) behind", len(e.Behind), e.MaxLag)
	for i, p := range e.Behind {
		if i == 10 {
			fmt.Fprintf(&b, "; and %d more", len(e.Behind)-i)
			break
		}
		fmt.Fprintf(&b, "; %s %s[%d]: %s", p.Flow, p.Topic, p.Partition, p.Describe())
	}
	if e.LastErr != nil {
		fmt.Fprintf(&b, "; the last look failed: %v", e.LastErr)
	}
	return b.String()
}

// Unwrap returns the context's error.
func (e *NotCaughtUpError) Unwrap() error { return e.Err }

// Describe says in a few words how far behind p is and why.
func (p *PartitionStatus) Describe() string {
	var b strings.Builder
	if p.State == StateUnknown {
		b.WriteString("unknown")
	} else {
		fmt.Fprintf(&b, "%d record(s) behind", p.RecordsBehind)
		if p.SecondsBehind > 0 {
			fmt.Fprintf(&b, ", oldest %s old", (time.Duration(p.SecondsBehind * float64(time.Second))).Round(time.Millisecond))
		}
		fmt.Fprintf(&b, " (%s", strings.ReplaceAll(p.State, "_", " "))
		if p.Reason != "" {
			b.WriteString(": " + p.Reason)
		}
		b.WriteString(")")
		return b.String()
	}
	if p.Reason != "" {
		b.WriteString(": " + p.Reason)
	}
	return b.String()
}

// WaitCaughtUp looks at the flows of ins every Interval until every
// selected partition of every flow is at most MaxLag records behind, and
// returns their statuses then. When ctx ends first, it returns the last
// statuses and a *NotCaughtUpError saying which partitions are behind and
// why. A look that fails (a cluster unreachable for a while) is reported to
// Progress and retried at the next interval.
func WaitCaughtUp(ctx context.Context, ins []*Inspector, opts WaitOptions) ([]*FlowStatus, error) {
	interval := cmp.Or(opts.Interval, time.Second)
	var last []*FlowStatus
	var lastErr error
	for {
		sts, err := lookOnce(ctx, ins, opts)
		if opts.Progress != nil {
			opts.Progress(sts, err)
		}
		if err == nil {
			last, lastErr = sts, nil
			if behind(sts, opts.MaxLag) == nil {
				return sts, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return last, &NotCaughtUpError{MaxLag: opts.MaxLag, Behind: behind(last, opts.MaxLag), LastErr: lastErr, Err: ctx.Err()}
		case <-time.After(interval):
		}
	}
}

// lookOnce reads the status of every flow once, asking the worker first.
func lookOnce(ctx context.Context, ins []*Inspector, opts WaitOptions) ([]*FlowStatus, error) {
	so := opts.Status
	if opts.WorkerURL != "" {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		so.Worker = FetchWorkerStatus(wctx, opts.HTTPClient, opts.WorkerURL)
		cancel()
	}
	sts := make([]*FlowStatus, 0, len(ins))
	for _, in := range ins {
		st, err := in.Status(ctx, so)
		if err != nil {
			return nil, fmt.Errorf("flow %s: %w", in.flow.Name(), err)
		}
		sts = append(sts, st)
	}
	return sts, nil
}

// behind lists the partitions of sts more than maxLag records behind.
func behind(sts []*FlowStatus, maxLag int64) []FlowPartition {
	var out []FlowPartition
	for _, st := range sts {
		for _, p := range st.Behind(maxLag) {
			out = append(out, FlowPartition{Flow: st.Flow, PartitionStatus: p})
		}
	}
	return out
}
