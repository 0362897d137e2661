package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/offsets"
)

// The demo ends with a cut-over: a consumer group reads part of "orders"
// on the source, is moved with the cut-over's library code
// (offsets.Cutover, what `mm2go migrate cutover` runs), and finishes on the
// target. The verification counts what it read twice and what it skipped.

const (
	demoGroup = "demo-billing"
	demoTopic = "orders"
)

// demoCutover is the cut-over part of the demo's verification.
type demoCutover struct {
	Group        string `json:"group"`
	Topic        string `json:"topic"`
	Produced     int    `json:"produced"`
	ReadOnSource int    `json:"read_on_source"`
	ReadOnTarget int    `json:"read_on_target"`
	ReadTwice    int    `json:"read_twice"`
	Skipped      int    `json:"skipped"`
	Error        string `json:"error,omitempty"`
}

// ok reports whether the group read every record exactly once.
func (c *demoCutover) ok() bool {
	return c.Error == "" && c.ReadTwice == 0 && c.Skipped == 0
}

// valueSet collects record values; safe for concurrent use.
type valueSet struct {
	mu     sync.Mutex // guards values
	values []string
}

func (s *valueSet) add(v string) {
	s.mu.Lock()
	s.values = append(s.values, v)
	s.mu.Unlock()
}

func (s *valueSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.values)
}

func (s *valueSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// demoReader consumes a topic as a consumer group in a goroutine, committing
// after each poll exactly what it read, until finished.
type demoReader struct {
	read valueSet
	stop context.CancelFunc
	done chan struct{}
}

func startDemoReader(c *kfake.Cluster, group, topic string) *demoReader {
	cl := demoClient(c, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	r := &demoReader{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer cl.Close() // leaves the group
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			recs := fs.Records()
			for _, rec := range recs {
				r.read.add(string(rec.Value))
			}
			if len(recs) > 0 {
				cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
				_ = cl.CommitRecords(cctx, recs...) // a failed commit shows as records read twice
				ccancel()
			}
		}
	}()
	return r
}

// finish stops the reader after its last commit and returns what it read.
func (r *demoReader) finish() []string {
	r.stop()
	<-r.done
	return r.read.list()
}

// runDemoCutover moves demoGroup, which read readOnSource of the produced
// records of demoTopic, from src to dst, and reads the rest there.
func runDemoCutover(ctx context.Context, w io.Writer, src, dst *kfake.Cluster, produced, readOnSource []string) *demoCutover {
	res := &demoCutover{Group: demoGroup, Topic: demoTopic, Produced: len(produced), ReadOnSource: len(readOnSource)}
	if len(readOnSource) == 0 {
		res.Error = "the group read nothing on the source (a longer --duration gives it time)"
		return res
	}
	fmt.Fprintf(w, "\ncut-over: group %s read %d of %d records of %s on the source; moving it to the target\n", demoGroup, len(readOnSource), len(produced), demoTopic)
	scl, tcl := demoClient(src), demoClient(dst)
	defer scl.Close()
	defer tcl.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := offsets.Cutover(cctx, offsets.CutoverRequest{
		Source: scl, Target: tcl, SourceAlias: "source", TargetAlias: "target", RemoteTopic: policy.Default{}.FormatRemoteTopic,
		Groups: []string{demoGroup}, MaxLag: int64(len(produced)), Progress: newCutoverPrinter(w).print,
	})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	want := len(produced) - len(readOnSource)
	reader := startDemoReader(dst, demoGroup, "source."+demoTopic)
	for deadline := time.Now().Add(30 * time.Second); reader.read.len() < want && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a record read twice would arrive now
	readOnTarget := reader.finish()
	res.ReadOnTarget = len(readOnTarget)
	seen := make(map[string]int, len(produced))
	for _, v := range readOnSource {
		seen[v]++
	}
	for _, v := range readOnTarget {
		if seen[v] > 0 {
			res.ReadTwice++
		}
		seen[v]++
	}
	for _, v := range produced {
		if seen[v] == 0 {
			res.Skipped++
		}
	}
	return res
}
