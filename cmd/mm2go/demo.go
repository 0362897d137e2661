package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/flows"
)

// demoTopics are the topics the demo creates on the source, with partitions.
var demoTopics = []struct {
	name       string
	partitions int32
}{{"orders", 6}, {"payments", 3}, {"clickstream", 8}}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [--duration 10s] [--rate 2000] [--json] [--clusters-only]", stdout)
	duration := fs.Duration("duration", 10*time.Second, "how long the producer writes before the demo drains and verifies")
	rate := fs.Int("rate", 2000, "records per second the demo producer writes")
	jsonOut := fs.Bool("json", false, "print the verification summary as JSON")
	clustersOnly := fs.Bool("clusters-only", false, "only run two embedded clusters and print their addresses until interrupted")
	var lf logFlags
	lf.register(fs)
	lf.level = "warn"
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *duration <= 0 || *rate <= 0 {
		fmt.Fprintln(stderr, "mm2go demo: --duration and --rate must be positive")
		return exitUsage
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mm2go demo: %v\n", err)
		return exitUsage
	}
	src, err := kfake.NewCluster(kfake.ClusterID("demo-source"), kfake.NumBrokers(1))
	if err != nil {
		fmt.Fprintf(stderr, "mm2go demo: start embedded cluster: %v\n", err)
		return exitFailure
	}
	defer src.Close()
	dst, err := kfake.NewCluster(kfake.ClusterID("demo-target"), kfake.NumBrokers(1))
	if err != nil {
		fmt.Fprintf(stderr, "mm2go demo: start embedded cluster: %v\n", err)
		return exitFailure
	}
	defer dst.Close()
	srcAddr, dstAddr := strings.Join(src.ListenAddrs(), ","), strings.Join(dst.ListenAddrs(), ",")
	if *clustersOnly {
		fmt.Fprintf(stdout, "source %s\ntarget %s\n", srcAddr, dstAddr)
		fmt.Fprintln(stdout, "clusters running; press Ctrl-C to stop")
		<-ctx.Done()
		return exitOK
	}

	// With --json, stdout carries the summary only: the story goes to stderr.
	human := stdout
	if *jsonOut {
		human = stderr
	}
	fmt.Fprintf(human, "mm2go demo: source cluster %s, target cluster %s\n", srcAddr, dstAddr)
	flowYAML := fmt.Sprintf(`clusters:
  source:
    bootstrap_servers: [%q]
  target:
    bootstrap_servers: [%q]
settings:
  refresh.topics.interval.seconds: 2
flows:
  - source: source
    target: target
    topics: [".*"]
`, srcAddr, dstAddr)
	fmt.Fprintf(human, "flow file:\n%s\n", indent(flowYAML))

	adm := kadm.NewClient(demoClient(src))
	defer adm.Close()
	for _, t := range demoTopics {
		if _, err := adm.CreateTopic(ctx, t.partitions, 1, nil, t.name); err != nil {
			fmt.Fprintf(stderr, "mm2go demo: create topic %s: %v\n", t.name, err)
			return exitFailure
		}
	}

	f, err := flows.Parse([]byte(flowYAML), flows.FormatYAML)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "mm2go demo: flow file: %v\n", err)
		return exitFailure
	}
	w, specs, err := newWorker(f, log)
	if err != nil {
		fmt.Fprintf(stderr, "mm2go demo: %v\n", err)
		return exitFailure
	}
	wctx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	werr := make(chan error, 1)
	go func() { werr <- w.Run(wctx, specs) }()

	// Produce for the duration (or until interrupted).
	pctx, stopProducing := context.WithTimeout(ctx, *duration)
	defer stopProducing()
	var produced sync.Map // "topic/partition" -> *atomic.Int64
	var producedOrders valueSet
	var pwg sync.WaitGroup
	prod := demoClient(src, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	defer prod.Close()
	pwg.Go(func() { demoProduce(pctx, prod, *rate, &produced, &producedOrders) })
	// A consumer group reads orders on the source for half the time; the
	// demo moves it to the target at the end.
	reader := startDemoReader(src, demoGroup, demoTopic)
	var readOnSource []string

	progress := newProgressPrinter(human, isTerminal(human))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	draining := false
	var drainDeadline time.Time
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
			continue
		case <-tick.C:
		}
		phase := "producing"
		if reader != nil && time.Since(start) >= *duration/2 {
			readOnSource, reader = reader.finish(), nil
		}
		if pctx.Err() != nil {
			if !draining {
				pwg.Wait() // the producer has flushed: its records are on the source
				draining = true
				drainDeadline = time.Now().Add(30 * time.Second)
			}
			phase = "draining"
		}
		lag := demoLag(adm, kadm.NewClient(demoClient(dst)))
		copied := int64(0)
		for _, l := range lag {
			copied += l.target
		}
		progress.print(time.Since(start), phase, copied, lag)
		if draining && (totalLag(lag) == 0 || time.Now().After(drainDeadline)) {
			done = true
		}
	}
	stopProducing()
	pwg.Wait()
	if reader != nil {
		readOnSource = reader.finish()
	}
	progress.finish()
	stopWorker()
	if err := <-werr; err != nil {
		fmt.Fprintf(stderr, "mm2go demo: worker: %v\n", err)
	}
	sum := verifyDemo(adm, dst, &produced)
	if ctx.Err() == nil { // not after Ctrl-C
		sum.Cutover = runDemoCutover(ctx, human, src, dst, producedOrders.list(), readOnSource)
	}
	if *jsonOut {
		_ = writeJSON(stdout, sum)
	} else {
		sum.print(stdout)
	}
	if sum.Missing != 0 || sum.Cutover != nil && !sum.Cutover.ok() {
		return exitFailure
	}
	return exitOK
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// demoClient returns a client of an embedded cluster. kgo.NewClient fails
// only on invalid options, and these are fixed, so a failure is reported as
// a client whose every request fails rather than a crash.
func demoClient(c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		cl, _ = kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	}
	return cl
}

// demoProduce writes realistic keyed records with headers at about rate per
// second until ctx is done, counting what the source acknowledged.
func demoProduce(ctx context.Context, cl *kgo.Client, rate int, produced *sync.Map, orders *valueSet) {
	const tick = 20 * time.Millisecond
	perTick := max(1, rate*int(tick)/int(time.Second))
	t := time.NewTicker(tick)
	defer t.Stop()
	seq := 0
	for {
		select {
		case <-ctx.Done():
			_ = cl.Flush(context.Background())
			return
		case <-t.C:
		}
		for range perTick {
			seq++
			topic := demoTopics[seq%len(demoTopics)].name
			user := rand.IntN(500)
			r := &kgo.Record{
				Topic: topic,
				Key:   fmt.Appendf(nil, "user-%d", user),
				Value: fmt.Appendf(nil, `{"seq":%d,"user":%d,"amount":%d.%02d,"at":%q}`, seq, user, rand.IntN(500), rand.IntN(100), time.Now().UTC().Format(time.RFC3339Nano)),
				Headers: []kgo.RecordHeader{
					{Key: "content-type", Value: []byte("application/json")},
					{Key: "trace-id", Value: fmt.Appendf(nil, "%016x", rand.Uint64())},
				},
			}
			cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				if r.Topic == demoTopic {
					orders.add(string(r.Value))
				}
				key := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
				v, _ := produced.LoadOrStore(key, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			})
		}
	}
}

// partLag is one partition's end offsets on both sides.
type partLag struct {
	topic     string
	partition int32
	source    int64
	target    int64
}

func demoLag(src, dst *kadm.Client) []partLag {
	defer dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var names, remote []string
	for _, t := range demoTopics {
		names = append(names, t.name)
		remote = append(remote, "source."+t.name)
	}
	se, err := src.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil
	}
	te, _ := dst.ListEndOffsets(ctx, remote...)
	var out []partLag
	se.Each(func(o kadm.ListedOffset) {
		l := partLag{topic: o.Topic, partition: o.Partition, source: o.Offset}
		if to, ok := te.Lookup("source."+o.Topic, o.Partition); ok && to.Err == nil {
			l.target = to.Offset
		}
		out = append(out, l)
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

func totalLag(ls []partLag) int64 {
	var n int64
	for _, l := range ls {
		n += max(0, l.source-l.target)
	}
	return n
}

// progressPrinter shows live progress: redrawn in place on a terminal, one
// line per second otherwise.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	lines int
}

func newProgressPrinter(w io.Writer, tty bool) *progressPrinter {
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) print(elapsed time.Duration, phase string, copied int64, lag []partLag) {
	byTopic := map[string][2]int64{}
	var topics []string
	for _, l := range lag {
		v, ok := byTopic[l.topic]
		if !ok {
			topics = append(topics, l.topic)
		}
		v[0] += l.target
		v[1] += max(0, l.source-l.target)
		byTopic[l.topic] = v
	}
	if !p.tty {
		var parts []string
		for _, t := range topics {
			parts = append(parts, fmt.Sprintf("%s lag=%d", t, byTopic[t][1]))
		}
		fmt.Fprintf(p.w, "[%4.0fs] %s: %d records copied; %s\n", elapsed.Seconds(), phase, copied, strings.Join(parts, ", "))
		return
	}
	if p.lines > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.lines)
	}
	fmt.Fprintf(p.w, "\x1b[2K[%4.0fs] %s: %d records copied\n", elapsed.Seconds(), phase, copied)
	for _, t := range topics {
		fmt.Fprintf(p.w, "\x1b[2K  %-14s copied %8d   lag %6d\n", t, byTopic[t][0], byTopic[t][1])
	}
	p.lines = 1 + len(topics)
}

func (p *progressPrinter) finish() {}

// demoSummary is the verification at the end of the demo.
type demoSummary struct {
	Produced   int64              `json:"produced"`
	OnTarget   int64              `json:"on_target"`
	Missing    int64              `json:"missing"`
	Partitions []demoPartitionSum `json:"partitions"`
	// Cutover is the consumer group moved from the source to the target.
	Cutover *demoCutover `json:"cutover"`
}

type demoPartitionSum struct {
	Topic       string `json:"topic"`
	RemoteTopic string `json:"remote_topic"`
	Partition   int32  `json:"partition"`
	Produced    int64  `json:"produced"`
	OnTarget    int64  `json:"on_target"`
	Missing     int64  `json:"missing"`
}

func verifyDemo(src *kadm.Client, dst *kfake.Cluster, produced *sync.Map) demoSummary {
	var sum demoSummary
	lag := demoLag(src, kadm.NewClient(demoClient(dst)))
	for _, l := range lag {
		n := int64(0)
		if v, ok := produced.Load(fmt.Sprintf("%s/%d", l.topic, l.partition)); ok {
			n = v.(*atomic.Int64).Load()
		}
		ps := demoPartitionSum{Topic: l.topic, RemoteTopic: "source." + l.topic, Partition: l.partition,
			Produced: n, OnTarget: l.target, Missing: max(0, n-l.target)}
		sum.Produced += ps.Produced
		sum.OnTarget += ps.OnTarget
		sum.Missing += ps.Missing
		sum.Partitions = append(sum.Partitions, ps)
	}
	return sum
}

func (s demoSummary) print(w io.Writer) {
	fmt.Fprintln(w, "\nverification (records produced on the source vs. records on the target):")
	fmt.Fprintf(w, "  %-22s %9s %9s %9s\n", "partition", "produced", "target", "missing")
	for _, p := range s.Partitions {
		fmt.Fprintf(w, "  %-22s %9d %9d %9d\n", fmt.Sprintf("%s[%d]", p.RemoteTopic, p.Partition), p.Produced, p.OnTarget, p.Missing)
	}
	fmt.Fprintf(w, "  %-22s %9d %9d %9d\n", "total", s.Produced, s.OnTarget, s.Missing)
	if s.Missing == 0 {
		fmt.Fprintf(w, "\nall %d records replicated: 0 missing\n", s.Produced)
	} else {
		fmt.Fprintf(w, "\n%d records missing on the target\n", s.Missing)
	}
	if c := s.Cutover; c != nil {
		fmt.Fprintf(w, "\ncut-over of group %s (%s): %d records produced, %d read on the source, %d on the target after the cut-over\n",
			c.Group, c.Topic, c.Produced, c.ReadOnSource, c.ReadOnTarget)
		switch {
		case c.Error != "":
			fmt.Fprintf(w, "  not moved: %s\n", c.Error)
		default:
			fmt.Fprintf(w, "  read twice: %d, skipped: %d\n", c.ReadTwice, c.Skipped)
		}
	}
}
