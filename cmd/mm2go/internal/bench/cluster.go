package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/internal/kread"
)

// cluster is an in-process fake Kafka cluster (one kfake broker on a
// loopback port) with an admin client.
type cluster struct {
	name string
	kf   *kfake.Cluster
	adm  *kadm.Client
}

// segmentBytes is the fake brokers' log.segment.bytes. kfake keeps a
// segment in memory as one byte slice that it grows by doubling, under a
// lock that every produce and fetch of the cluster takes. With Kafka's
// default of 1 GiB (kfake: 100 MiB) growing a segment copies tens of
// megabytes while the whole cluster waits: stalls of 50 ms to 1 s that
// land in every copier's latency tail, the raw loop's too. A real broker
// appends to the page cache and has no such pause; small segments keep
// each copy under 128 KiB.
const segmentBytes = 256 << 10

func newCluster(name string) (*cluster, error) {
	kf, err := kfake.NewCluster(kfake.ClusterID("bench-"+name), kfake.NumBrokers(1),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(segmentBytes)}))
	if err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	c := &cluster{name: name, kf: kf}
	cl, err := c.client(kgo.MetadataMinAge(100 * time.Millisecond))
	if err != nil {
		kf.Close()
		return nil, err
	}
	c.adm = kadm.NewClient(cl)
	return c, nil
}

// addrs is the cluster's bootstrap address list, comma separated.
func (c *cluster) addrs() string { return strings.Join(c.kf.ListenAddrs(), ",") }

func (c *cluster) client(opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.kf.ListenAddrs()...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("new client of cluster %s: %w", c.name, err)
	}
	return cl, nil
}

func (c *cluster) close() {
	c.adm.Close()
	c.kf.Close()
}

// createTopics creates topics with partitions each, in one request.
func (c *cluster) createTopics(ctx context.Context, partitions int32, topics ...string) error {
	resps, err := c.adm.CreateTopics(ctx, partitions, 1, nil, topics...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return fmt.Errorf("create %d topic(s) on cluster %s: %w", len(topics), c.name, err)
	}
	return nil
}

// copied is what a poll of a cluster's end offsets found.
type copied struct {
	records    int64 // sum of the end offsets of the partitions found
	partitions int   // partitions found
	nonEmpty   int   // partitions with at least one record
}

// endOffsets sums the end offsets of topics; topics that do not exist yet
// count as empty.
func (c *cluster) endOffsets(ctx context.Context, topics ...string) (copied, error) {
	var out copied
	ends, err := c.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return out, fmt.Errorf("list end offsets on cluster %s: %w", c.name, err)
	}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		switch {
		case kerr.IsRetriable(o.Err):
			// Not created yet (unknown topic) or a leader moving: counted
			// as empty until a later poll.
		case o.Err != nil:
			errs = append(errs, fmt.Errorf("%s[%d]: %w", o.Topic, o.Partition, o.Err))
		default:
			out.partitions++
			out.records += o.Offset
			if o.Offset > 0 {
				out.nonEmpty++
			}
		}
	})
	return out, errors.Join(errs...)
}

// commitWatch counts the records a worker committed on a target: the
// source offsets of MirrorSource in the flow's Connect offsets topic (read
// read_committed), each the offset of the last record copied of its
// partition. It reads only what is new at each poll.
type commitWatch struct {
	tail   *kread.Tail
	topics map[string]bool  // the source topics counted
	last   map[string]int64 // by offsets key: the last committed offset
}

// newCommitWatch counts the records of the source topics the worker
// copied from source to c.
func newCommitWatch(c *cluster, source string, topics []string) (*commitWatch, error) {
	tail, err := kread.NewTail([]kgo.Opt{kgo.SeedBrokers(c.kf.ListenAddrs()...)}, connect.OffsetsTopic(source))
	if err != nil {
		return nil, fmt.Errorf("read the offsets topic of cluster %s: %w", c.name, err)
	}
	w := &commitWatch{tail: tail, topics: make(map[string]bool), last: make(map[string]int64)}
	for _, t := range topics {
		w.topics[t] = true
	}
	return w, nil
}

// copied returns the records committed so far (records) and the
// partitions with a committed offset (partitions, nonEmpty).
func (w *commitWatch) copied(ctx context.Context) (copied, error) {
	var out copied
	err := w.tail.CatchUp(ctx, func(r *kgo.Record) {
		ns, fields, err := connect.ParseOffsetKey(r.Key)
		if err != nil || ns != "MirrorSourceConnector" {
			return
		}
		for _, f := range fields {
			if f.Name == "topic" && !w.topics[f.Str] {
				return // the heartbeats, say
			}
		}
		if o, ok, err := connect.ParseOffsetValue(r.Value); err == nil && ok {
			w.last[string(r.Key)] = o
		}
	})
	if err != nil && !errors.Is(err, kread.ErrTopicNotFound) {
		return out, err
	}
	for _, o := range w.last {
		out.partitions++
		out.nonEmpty++
		out.records += o + 1
	}
	return out, nil
}

func (w *commitWatch) close() { w.tail.Close() }

// valuePool hands out printable record values of one size: printable so
// that kcat's line-based pipe carries them unchanged, and random, so that the
// producers' default compression (snappy) finds about as little to squeeze
// as in real traffic that is already compact. Values are windows at random
// offsets of one random tape, so that making load costs the harness almost
// no CPU; two records share bytes only by the rare chance of overlapping
// windows.
type valuePool struct {
	size int
	tape []byte
	rng  *rand.Rand
}

func newValuePool(size int) *valuePool {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	tape := make([]byte, max(16<<20, 64*size))
	for i := range tape {
		tape[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return &valuePool{size: size, tape: tape, rng: rng}
}

// next returns a value; callers must not modify it. Not safe for concurrent
// use.
func (p *valuePool) next() []byte {
	off := p.rng.IntN(len(p.tape) - p.size + 1)
	return p.tape[off : off+p.size : off+p.size]
}

// load produces n records of the pool's size to topic, spread evenly over
// partitions, and waits for all of them to be acknowledged. progress is
// called about once a second with the records acknowledged so far.
func (c *cluster) load(ctx context.Context, topic string, partitions int32, n int64, pool *valuePool, progress func(acked int64)) error {
	cl, err := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	var acked atomic.Int64
	var failed atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	// The progress goroutine has exited when load returns: the caller's
	// next progress line must not race with a late one.
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{})
	defer close(done)
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress(acked.Load())
			}
		}
	})
	for i := range n {
		if failed.Load() != nil || ctx.Err() != nil {
			break
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % int64(partitions)), Value: pool.next()}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("load %s: %w", topic, err)
	}
	if p := failed.Load(); p != nil {
		return fmt.Errorf("load %s: %w", topic, *p)
	}
	if got := acked.Load(); got != n {
		return fmt.Errorf("load %s: %d of %d records acknowledged", topic, got, n)
	}
	return nil
}
