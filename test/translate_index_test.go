package test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/offsets"
)

// lowerRapidChecks makes rapid run n cases in this test instead of its
// default 100, unless -rapid.checks or RAPID_CHECKS asked for a number.
func lowerRapidChecks(t *testing.T, n int) {
	t.Helper()
	set := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	f := flag.Lookup("rapid.checks")
	if set || f == nil {
		return
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// indexWorker is a worker whose stop may be a crash: with crash set, its
// shutdown timeout is 1ns, so it stops without flushing its producers or
// committing source offsets, like a killed process (its Run error is
// expected and ignored).
type indexWorker struct {
	w      *connect.Worker
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	crash  bool
}

func startIndexWorker(t *testing.T, src, dst *kfake.Cluster, crash bool) *indexWorker {
	t.Helper()
	cfg := connect.WorkerConfig{
		Clusters:            clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: 150 * time.Millisecond,
	}
	if crash {
		cfg.ShutdownTimeout = time.Nanosecond
	}
	reg := connect.NewRegistry()
	connectors.Register(reg)
	w := connect.NewWorker(cfg, connect.WithLogger(testLogger(t)), connect.WithRegistry(reg))
	ctx, cancel := context.WithCancel(context.Background())
	iw := &indexWorker{w: w, cancel: cancel, done: make(chan error, 1), crash: crash}
	go func() { iw.done <- w.Run(ctx, []connect.ConnectorSpec{sourceSpec("A", "B", nil)}) }()
	t.Cleanup(func() { iw.stop(t) })
	return iw
}

func (iw *indexWorker) stop(t *testing.T) {
	iw.once.Do(func() {
		iw.cancel()
		select {
		case err := <-iw.done:
			if err != nil && !iw.crash {
				t.Errorf("worker Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("worker did not stop within 60s")
		}
	})
}

// indexEnv is one case of TestTranslateIndex_Property: a compacted source
// topic "t" with two partitions on A, copied to B by a worker that may be
// restarted or crash, and every record ever produced, by offset.
type indexEnv struct {
	t        *testing.T
	src, dst *kfake.Cluster
	prod     *kgo.Client
	txn      *kgo.Client
	w        *indexWorker
	produced map[int32]map[int64]*kgo.Record
	seq      int
}

const indexParts = 2

// newIndexEnv starts the clusters and producers of one case; close ends
// them (the producers first: closing a client whose cluster is gone waits
// for its requests to time out).
func newIndexEnv(t *testing.T, id int) *indexEnv {
	src, dst := newCluster(t, fmt.Sprintf("src-%d", id)), newCluster(t, fmt.Sprintf("dst-%d", id))
	e := &indexEnv{t: t, src: src, dst: dst, produced: make(map[int32]map[int64]*kgo.Record)}
	var err error
	opts := []kgo.Opt{kgo.SeedBrokers(src.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	if e.prod, err = kgo.NewClient(opts...); err != nil {
		t.Fatal(err)
	}
	if e.txn, err = kgo.NewClient(append(opts, kgo.TransactionalID(fmt.Sprintf("txn-%d", id)))...); err != nil {
		e.prod.Close()
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(e.prod).CreateTopic(context.Background(), indexParts, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")}, "t"); err != nil {
		e.close()
		t.Fatal(err)
	}
	return e
}

// close stops the worker, the producers and the clusters.
func (e *indexEnv) close() {
	if e.w != nil {
		e.w.stop(e.t)
	}
	e.txn.Close()
	e.prod.Close()
	e.src.Close()
	e.dst.Close()
}

// records returns n new records for partition p: keys from a small set, so
// that compaction has something to remove, unique values (every 9th a
// tombstone) and a unique header.
func (e *indexEnv) records(rt *rapid.T, p int32, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		e.seq++
		r := &kgo.Record{
			Topic: "t", Partition: p,
			Key:       []byte("k" + strconv.Itoa(rapid.IntRange(0, 5).Draw(rt, "key"))),
			Value:     []byte("v" + strconv.Itoa(e.seq)),
			Headers:   []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(e.seq))}},
			Timestamp: time.UnixMilli(1_700_000_000_000 + int64(e.seq)),
		}
		if e.seq%9 == 0 {
			r.Value = nil
		}
		recs[i] = r
	}
	return recs
}

func (e *indexEnv) remember(recs []*kgo.Record) {
	for _, r := range recs {
		if e.produced[r.Partition] == nil {
			e.produced[r.Partition] = make(map[int64]*kgo.Record)
		}
		e.produced[r.Partition][r.Offset] = r
	}
}

func (e *indexEnv) produce(rt *rapid.T, p int32, n int) {
	recs := e.records(rt, p, n)
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
	e.remember(recs)
}

func (e *indexEnv) transaction(rt *rapid.T, p int32, n int, commit bool) {
	ctx := context.Background()
	if err := e.txn.BeginTransaction(); err != nil {
		e.t.Fatalf("begin transaction: %v", err)
	}
	recs := e.records(rt, p, n)
	if err := e.txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce in transaction: %v", err)
	}
	e.remember(recs)
	if err := e.txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		e.t.Fatalf("end transaction: %v", err)
	}
}

// deleteRecords moves partition p's log start a random part of the way to
// its end.
func (e *indexEnv) deleteRecords(rt *rapid.T, p int32) {
	ctx := context.Background()
	adm := kadm.NewClient(e.prod)
	starts, err1 := adm.ListStartOffsets(ctx, "t")
	ends, err2 := adm.ListEndOffsets(ctx, "t")
	if err := errors.Join(err1, err2); err != nil {
		e.t.Fatalf("list offsets: %v", err)
	}
	s, _ := starts.Lookup("t", p)
	end, _ := ends.Lookup("t", p)
	to := s.Offset + rapid.Int64Range(0, end.Offset-s.Offset).Draw(rt, "deleteTo")
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "t", Partition: p, At: to})
	resp, err := adm.DeleteRecords(ctx, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		e.t.Fatalf("delete records of t-%d up to %d: %v", p, to, err)
	}
}

// settle produces a sentinel record to each partition and waits until the
// target has every one of them: the worker has copied all there was.
func (e *indexEnv) settle(rt *rapid.T) {
	want := make(map[string]bool)
	for p := range int32(indexParts) {
		recs := e.records(rt, p, 1)
		recs[0].Value = []byte("sentinel-" + string(recs[0].Headers[0].Value))
		if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			e.t.Fatalf("produce sentinel: %v", err)
		}
		e.remember(recs)
		want[string(recs[0].Value)] = true
	}
	waitFor(e.t, 60*time.Second, "sentinels copied", func() bool {
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := kread.ReadToEnd(ctx, []kgo.Opt{kgo.SeedBrokers(e.dst.ListenAddrs()...)}, "A.t", nil, func(r *kgo.Record) error {
			if want[string(r.Value)] {
				n++
			}
			return nil
		})
		return err == nil && n >= len(want)
	})
}

// indexStats counts what the cases of TestTranslateIndex_Property covered.
type indexStats struct {
	cases, retained, gaps, duplicates, runs, crashes int
}

// check loads the index from the target, once the worker has stopped, and
// checks the translation of every source offset against what is on both
// clusters and what was produced.
func (e *indexEnv) check(rt *rapid.T, st *indexStats) {
	ctx := context.Background()
	idx, err := offsets.LoadIndex(ctx, []kgo.Opt{kgo.SeedBrokers(e.dst.ListenAddrs()...)}, offsets.IndexTopic("A"))
	if err != nil {
		e.t.Fatalf("LoadIndex: %v", err)
	}
	if idx.Skipped() != 0 {
		rt.Fatalf("LoadIndex skipped %d records", idx.Skipped())
	}
	st.cases++
	st.runs += idx.Len()
	retained := recordsByOffset(readTopicRecords(e.t, e.src, "t"))
	copies := recordsByOffset(readTopicRecords(e.t, e.dst, "A.t"))
	srcEnds := endOffsets(e.t, e.src, "t")
	dstEnds := endOffsets(e.t, e.dst, "A.t")
	for p := range int32(indexParts) {
		latest := make(map[string]int64) // seq header -> target offset of its latest copy
		for d, r := range copies[p] {
			l, ok := latest[string(r.Headers[0].Value)]
			if ok {
				st.duplicates++
			}
			if !ok || d > l {
				latest[string(r.Headers[0].Value)] = d
			}
		}
		lowestRetained := int64(-1)
		for u := range srcEnds[p] {
			if retained[p][u] != nil {
				lowestRetained = u
				break
			}
		}
		for u := range srcEnds[p] {
			tr, err := idx.Translate("t", p, u)
			want := retained[p][u]
			if want != nil {
				st.retained++
			} else {
				st.gaps++
			}
			switch {
			case err != nil:
				if !errors.Is(err, offsets.ErrNoTranslation) || want != nil || (lowestRetained >= 0 && lowestRetained <= u) {
					rt.Fatalf("t-%d: Translate(%d): %v (lowest retained offset %d)", p, u, err, lowestRetained)
				}
				continue
			case !tr.Exact:
				rt.Fatalf("t-%d: Translate(%d) = %+v: not exact, yet every record was copied", p, u, tr)
			case want != nil && tr.Upstream != u:
				rt.Fatalf("t-%d: Translate(%d) = %+v: a retained record translated to another", p, u, tr)
			}
			got := copies[p][tr.Downstream]
			if got == nil {
				rt.Fatalf("t-%d: Translate(%d) = %+v: no record at that target offset", p, u, tr)
			}
			if d := sameRecord(e.produced[p][tr.Upstream], got); d != "" {
				rt.Fatalf("t-%d: Translate(%d) = %+v: the target record is not the one produced at %d: %s", p, u, tr, tr.Upstream, d)
			}
			if want != nil {
				if d := sameRecord(want, got); d != "" {
					rt.Fatalf("t-%d: Translate(%d) = %+v: %s", p, u, tr, d)
				}
				if l := latest[string(want.Headers[0].Value)]; tr.Downstream != l {
					rt.Fatalf("t-%d: Translate(%d) = %+v: the latest copy is at %d", p, u, tr, l)
				}
			}
			for r := u; r < tr.Upstream; r++ {
				if retained[p][r] != nil {
					rt.Fatalf("t-%d: Translate(%d) = %+v skips retained record %d", p, u, tr, r)
				}
			}
		}
		// Past the end: the newest run's shift, which here is exactly where
		// the next record will go.
		tr, err := idx.Translate("t", p, srcEnds[p])
		if err != nil || tr.Exact || tr.Downstream != dstEnds[p] {
			rt.Fatalf("t-%d: Translate(end %d) = %+v, %v; want target end %d, inexact", p, srcEnds[p], tr, err, dstEnds[p])
		}
	}
}

// TestTranslateIndex_Property produces records, transactions (committed and
// aborted), compaction and deleted records on the source while a worker
// copies them, restarting or crashing the worker in between. Once the last
// worker has copied everything and stopped, the index on the target must
// translate every retained source record to its latest copy, every gap to
// the next record copied after it, and never to a record it is not.
func TestTranslateIndex_Property(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end property test")
	}
	lowerRapidChecks(t, 15)
	iter := 0
	var st indexStats
	defer func() {
		t.Logf("%d cases: %d retained records and %d gap offsets translated; %d duplicate copies; %d runs; %d crashes",
			st.cases, st.retained, st.gaps, st.duplicates, st.runs, st.crashes)
	}()
	rapid.Check(t, func(rt *rapid.T) {
		iter++
		e := newIndexEnv(t, iter)
		defer e.close()
		e.w = startIndexWorker(t, e.src, e.dst, rapid.Bool().Draw(rt, "crash"))
		for range rapid.IntRange(3, 14).Draw(rt, "steps") {
			p := int32(rapid.IntRange(0, indexParts-1).Draw(rt, "partition"))
			switch rapid.IntRange(0, 8).Draw(rt, "action") {
			case 0, 1, 2:
				e.produce(rt, p, rapid.IntRange(1, 40).Draw(rt, "n"))
			case 3, 4:
				e.transaction(rt, p, rapid.IntRange(1, 10).Draw(rt, "n"), rapid.Bool().Draw(rt, "commit"))
			case 5:
				e.src.Compact()
			case 6:
				e.deleteRecords(rt, p)
			case 7:
				if e.w.crash {
					st.crashes++
				}
				e.w.stop(t)
				e.w = startIndexWorker(t, e.src, e.dst, rapid.Bool().Draw(rt, "crash"))
			case 8:
				e.settle(rt)
			}
		}
		if e.w.crash {
			st.crashes++
			e.w.stop(t)
			e.w = startIndexWorker(t, e.src, e.dst, false)
		}
		e.settle(rt)
		e.w.stop(t)
		e.check(rt, &st)
	})
}

// TestTranslateIndex_GroupFarBehind copies a transactional topic: every
// transaction shifts the offsets (its marker takes an offset on the source
// only), so the source task writes an MM2 offset sync per transaction. A
// consumer group committed at the third transaction, hundreds of syncs
// back, is far past what MM2 can translate: its offset-syncs topic keeps one
// sync per partition once compacted, so a restarted MM2 finds no sync at or
// below the group and writes no checkpoint. The index still translates the
// group exactly, and a consumer resuming there on the target reads the rest
// of the partition with nothing skipped and nothing read twice.
func TestTranslateIndex_GroupFarBehind(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	txn := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("far-behind"))
	const txns, perTxn = 150, 3
	for i := range txns {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for j := range perTxn {
			recs = append(recs, &kgo.Record{Topic: "t", Key: []byte(fmt.Sprintf("k%d", j)), Value: []byte(fmt.Sprintf("txn%d-%d", i, j))})
		}
		if err := txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	// The group has read two transactions and one record of the third:
	// offsets 0-2, marker 3, 4-6, marker 7, 8; it resumes at 9.
	const committed = 9
	srcAdm := kadm.NewClient(client(t, src))
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "t", Partition: 0, At: committed})
	if resp, err := srcAdm.CommitOffsets(ctx, "laggard", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit group offset: %v, %v", err, resp.Error())
	}

	w := startIndexWorker(t, src, dst, false)
	waitFor(t, 60*time.Second, "all records copied", func() bool {
		return totalRecords(endOffsets(t, dst, "A.t")) == txns*perTxn
	})
	w.stop(t)

	// MM2's view: one sync per transaction, all in offset-syncs; after
	// compaction (per key) only the newest survives, far above the group.
	var syncs []offsets.OffsetSync
	for _, r := range readTopicRecords(t, src, "mm2-offset-syncs.B.internal") {
		s, err := offsets.DecodeOffsetSync(r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		syncs = append(syncs, s)
	}
	if len(syncs) < txns {
		t.Fatalf("%d offset syncs, want at least one per transaction (%d)", len(syncs), txns)
	}
	newest := syncs[len(syncs)-1]
	if newest.UpstreamOffset <= committed {
		t.Fatalf("newest sync %+v is at or below the group", newest)
	}
	t.Logf("%d offset syncs; after compaction only %d -> %d remains, above the group at %d",
		len(syncs), newest.UpstreamOffset, newest.DownstreamOffset, committed)

	fetched, err := srcAdm.FetchOffsets(ctx, "laggard")
	if err != nil {
		t.Fatal(err)
	}
	o, ok := fetched.Lookup("t", 0)
	if !ok || o.At != committed {
		t.Fatalf("group offset = %+v, want %d", o, committed)
	}
	idx, err := offsets.LoadIndex(ctx, []kgo.Opt{kgo.SeedBrokers(dst.ListenAddrs()...)}, offsets.IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	if idx.Len() < txns {
		t.Errorf("index holds %d runs, want one per transaction (%d)", idx.Len(), txns)
	}
	tr, err := idx.Translate("t", 0, o.At)
	// Upstream 9 is the second record of the third transaction; on the
	// target, without markers, it is the 8th record: offset 7.
	if want := (offsets.Translation{Upstream: committed, Downstream: 7, Exact: true}); err != nil || tr != want {
		t.Fatalf("Translate(group at %d) = %+v, %v; want %+v", o.At, tr, err, want)
	}
	source := readTopicRecords(t, src, "t")
	copies := readTopicRecords(t, dst, "A.t")
	var rest []*kgo.Record // source records from the group's offset on
	for _, r := range source {
		if r.Offset >= committed {
			rest = append(rest, r)
		}
	}
	resumed := copies[tr.Downstream:]
	if len(resumed) != len(rest) {
		t.Fatalf("resuming at %d reads %d records, want %d", tr.Downstream, len(resumed), len(rest))
	}
	for i := range rest {
		if d := sameRecord(rest[i], resumed[i]); d != "" {
			t.Fatalf("record %d after resuming: %s", i, d)
		}
	}
}
