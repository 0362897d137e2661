package fault

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// full reports whether the full suite runs (MM2GO_FAULT=full): more kills,
// longer outages, more records. Otherwise the short version runs, as part
// of `go test ./...`.
func full() bool { return os.Getenv("MM2GO_FAULT") == "full" }

// pick returns short or, in a full run, long.
func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

// skipShort skips fault scenarios under -short: they build binaries and run
// brokers and workers as processes.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault scenarios run brokers and workers as processes")
	}
}

// pendingFix skips, in the short run, a scenario that fails on main until
// the named fix lands; MM2GO_FAULT_PENDING=1 runs it there too, and the full
// run always runs it. Remove the call when the fix is on main.
func pendingFix(t *testing.T, fix string) {
	t.Helper()
	if full() || os.Getenv("MM2GO_FAULT_PENDING") == "1" {
		t.Logf("pending %s: run anyway", fix)
		return
	}
	t.Skipf("pending %s; fails on main until then (MM2GO_FAULT_PENDING=1 runs it)", fix)
}

// seeded returns a random source for t: from MM2GO_FAULT_SEED if set (to
// replay a run), otherwise from the clock; the seed is logged.
func seeded(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MM2GO_FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MM2GO_FAULT_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (MM2GO_FAULT_SEED=%d repeats this run's choices)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// env is one scenario's clusters: source A and target B as broker
// processes, each optionally behind a fault proxy, and a flow file A->B.
type env struct {
	t        *testing.T
	src, dst *harness.Broker
	srcPx    *harness.Proxy // nil unless asked for
	dstPx    *harness.Proxy
	flow     harness.FlowFile
	flowPath string
	srcAdm   *kadm.Client
	dstAdm   *kadm.Client
}

type envOpts struct {
	proxySource, proxyTarget bool
	settings                 map[string]string // added to harness.DefaultSettings
	targetProperties         map[string]string
	topics                   []string
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t}
	proxy := func(on bool) *harness.Proxy {
		if !on {
			return nil
		}
		px, err := harness.NewProxy()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { px.Close() })
		return px
	}
	e.srcPx, e.dstPx = proxy(o.proxySource), proxy(o.proxyTarget)
	e.src = harness.StartBroker(t, harness.BrokerConfig{ClusterID: "source", Proxy: e.srcPx})
	e.dst = harness.StartBroker(t, harness.BrokerConfig{ClusterID: "target", Proxy: e.dstPx})
	settings := harness.DefaultSettings()
	for k, v := range o.settings {
		settings[k] = v
	}
	e.flow = harness.FlowFile{Source: e.src.Addr(), Target: e.dst.Addr(), Settings: settings,
		TargetProperties: o.targetProperties, Topics: o.topics}
	e.flowPath = e.flow.Write(t, filepath.Join(t.TempDir(), "flows.yaml"))
	e.srcAdm = kadm.NewClient(e.src.Client())
	e.dstAdm = kadm.NewClient(e.dst.Client())
	return e
}

// rewriteFlow changes a setting of the flow file (for the next worker).
func (e *env) rewriteFlow(key, value string) {
	e.flow.Settings[key] = value
	e.flow.Write(e.t, e.flowPath)
}

// worker starts a worker process on the flow file.
func (e *env) worker(flags ...string) *harness.Worker {
	e.t.Helper()
	return harness.StartWorker(e.t, e.flowPath, flags...)
}

// stopWorker stops w with SIGTERM; the test fails (and goes on) unless it
// exits with code 0 within a minute.
func (e *env) stopWorker(w *harness.Worker) {
	e.t.Helper()
	if err := w.Stop(time.Minute); err != nil {
		e.t.Error(err)
	}
}

func (e *env) createTopic(name string, partitions int32) {
	e.t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	if _, err := e.srcAdm.CreateTopic(ctx, partitions, 1, nil, name); err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
}

func (e *env) deleteTopic(name string) {
	e.t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	if _, err := e.srcAdm.DeleteTopic(ctx, name); err != nil {
		e.t.Fatalf("delete %s: %v", name, err)
	}
}

// produce starts a producer of numbered records to topic on A, with a
// client of its own (a client keeps the topic ID of a topic it produced
// to: after a re-creation it must be a new one).
func (e *env) produce(topic string, partitions int32, tag string, rate int, limit int64) *harness.Producer {
	cl := e.src.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	return harness.StartProducer(cl, harness.ProducerConfig{Topic: topic, Partitions: partitions, Tag: tag, Rate: rate, Limit: limit})
}

// stopProducer stops p and fails the test on a produce error; it returns
// the records acknowledged.
func (e *env) stopProducer(p *harness.Producer) int64 {
	e.t.Helper()
	n, err := p.Stop(2 * time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// targetEnds returns the end offsets of remote topic "A.<topic>" on B, nil
// if it does not exist yet.
func (e *env) targetEnds(topic string) map[int32]int64 {
	ctx, cancel := ctxFor(10 * time.Second)
	defer cancel()
	ends, err := harness.EndOffsets(ctx, e.dst.Client(), "A."+topic)
	if err != nil {
		return nil
	}
	return ends
}

func (e *env) sourceEnds(topic string) map[int32]int64 {
	e.t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	ends, err := harness.EndOffsets(ctx, e.src.Client(), topic)
	if err != nil {
		e.t.Fatalf("end offsets of %s on the source: %v", topic, err)
	}
	return ends
}

// committed returns the source offsets of topic committed on B.
func (e *env) committed(topic string) map[int32]int64 {
	e.t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	c, err := harness.CommittedOffsets(ctx, e.dst.Opts(), "A")
	if err != nil {
		e.t.Fatalf("committed offsets: %v", err)
	}
	return c[topic]
}

// waitCommitted waits until the committed offsets of topic cover every
// record now on the source: the worker copied and committed everything.
// It reports false (and logs where it stands) if within passes.
func (e *env) waitCommitted(topic string, within time.Duration) bool {
	e.t.Helper()
	ends := e.sourceEnds(topic)
	deadline := time.Now().Add(within)
	for {
		c := e.committed(topic)
		done := true
		for p, end := range ends {
			if end > 0 && c[p] != end-1 {
				done = false
			}
		}
		if done {
			return true
		}
		if time.Now().After(deadline) {
			e.t.Errorf("after %v the committed offsets of %s are %v; the source ends at %v (committed = end-1 when all is copied)", within, topic, c, ends)
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitTarget waits until cond holds for the end offsets of A.<topic> on B.
func (e *env) waitTarget(topic, what string, within time.Duration, cond func(ends map[int32]int64) bool) bool {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond(e.targetEnds(topic)) {
		if time.Now().After(deadline) {
			e.t.Errorf("timed out after %v waiting for %s (A.%s ends at %v)", within, what, topic, e.targetEnds(topic))
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// waitCopying waits until at least n records are on A.<topic>.
func (e *env) waitCopying(topic string, n int64, within time.Duration) bool {
	e.t.Helper()
	return e.waitTarget(topic, fmt.Sprintf("%d records copied", n), within, func(ends map[int32]int64) bool { return sum(ends) >= n })
}

// stable returns the end offsets of A.<topic> and the committed offsets of
// topic once they stop changing: after a worker died, what it sent before
// dying may still land for a moment.
func (e *env) stable(topic string) (ends, committed map[int32]int64) {
	e.t.Helper()
	ends, committed = e.targetEnds(topic), e.committed(topic)
	for range 50 {
		time.Sleep(300 * time.Millisecond)
		ends2, committed2 := e.targetEnds(topic), e.committed(topic)
		if mapsEqual(ends, ends2) && mapsEqual(committed, committed2) {
			return ends, committed
		}
		ends, committed = ends2, committed2
	}
	e.t.Fatalf("A.%s still changing 15s after the worker stopped", topic)
	return nil, nil
}

// readSource reads topic on A.
func (e *env) readSource(topic string) *harness.Log {
	e.t.Helper()
	ctx, cancel := ctxFor(2 * time.Minute)
	defer cancel()
	l, err := harness.ReadTopic(ctx, e.src.Opts(), topic)
	if err != nil {
		e.t.Fatalf("read %s on the source: %v", topic, err)
	}
	return l
}

// check reads topic on A and A.<topic> on B, compares them record by
// record and logs the report; the test fails if a record is missing, out
// of order, foreign or changed. want, if given, replaces the source's
// content (a re-created topic's generations).
func (e *env) check(topic string, want *harness.Log) *harness.Report {
	e.t.Helper()
	if want == nil {
		want = e.readSource(topic)
	}
	ctx, cancel := ctxFor(2 * time.Minute)
	defer cancel()
	got, err := harness.ReadTopic(ctx, e.dst.Opts(), "A."+topic)
	if err != nil {
		e.t.Fatalf("read A.%s on the target: %v", topic, err)
	}
	r := harness.Compare(want, got)
	e.t.Log(r)
	if !r.Clean() {
		e.t.Errorf("A.%s is not a faithful copy of %s: %s", topic, topic, r.Summary())
	}
	return r
}

// result logs a scenario's one-line result for test/RELIABILITY.md.
func result(t *testing.T, r *harness.Report, produced int64, bound string) {
	t.Helper()
	want, got, m, d, o, f, c := r.Totals()
	t.Logf("RESULT %s: produced %d, on source %d, copied %d, missing %d, duplicated %d (bound: %s), out of order %d, foreign %d, changed %d",
		t.Name(), produced, want, got, m, d, bound, o, f, c)
}

// checkNoDuplicates fails the test if r has duplicates.
func checkNoDuplicates(t *testing.T, r *harness.Report, why string) {
	t.Helper()
	if _, _, _, d, _, _, _ := r.Totals(); d != 0 {
		t.Errorf("%d duplicates, want 0: %s", d, why)
	}
}

func sum(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func mapsEqual(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sortedParts(m map[int32]int64) []int32 {
	var ps []int32
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}
