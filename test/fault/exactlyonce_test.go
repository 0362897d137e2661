package fault

import (
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// Exactly-once scenarios: the flow A->B copies exactly once
// (B.exactly.once.source.support=enabled, as MM2 reads it) from a source
// written in transactions of 20 records, every third aborted. Bound, every
// time: a read_committed consumer of the target sees each committed source
// record exactly once, in order (0 missing, 0 duplicated); no record of an
// aborted source transaction is on the target, even for read_uncommitted
// consumers; read_uncommitted consumers may see copies from the target's
// own aborted transactions, which the check counts.

// eosEnv is an env whose flow copies exactly once, with transactions of
// interval, and more settings. Workers form a group (as every mm2go worker
// does) with a 6s session, the brokers' minimum, so that the units of a
// worker that died or froze move within seconds.
func eosEnv(t *testing.T, interval string, more ...map[string]string) *env {
	settings := map[string]string{"transaction.boundary.interval.ms": interval,
		"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
	for _, m := range more {
		maps.Copy(settings, m)
	}
	return newEnv(t, envOpts{
		settings:         settings,
		targetProperties: map[string]string{"exactly.once.source.support": "enabled"},
	})
}

// produceTxn starts a producer of numbered records to topic on A, in
// transactions of 20 records, every third aborted.
func (e *env) produceTxn(topic string, partitions int32, tag string, rate int) *harness.Producer {
	cl := e.src.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("fault-producer-"+topic+"-"+tag))
	return harness.StartProducer(cl, harness.ProducerConfig{Topic: topic, Partitions: partitions, Tag: tag, Rate: rate,
		TxnRecords: 20, AbortEvery: 3})
}

// checkExactlyOnce checks the exactly-once bound (above) for topic and
// returns the report of the read_committed copy and how many copies of
// the target's aborted transactions read_uncommitted consumers see.
func (e *env) checkExactlyOnce(topic string, prod *harness.Producer) (r *harness.Report, abortedCopies int64) {
	e.t.Helper()
	ctx, cancel := ctxFor(2 * time.Minute)
	defer cancel()
	want, err := harness.ReadTopicCommitted(ctx, e.src.Opts(), topic)
	if err != nil {
		e.t.Fatalf("read %s on the source: %v", topic, err)
	}
	committed, err := harness.ReadTopicCommitted(ctx, e.dst.Opts(), "A."+topic)
	if err != nil {
		e.t.Fatalf("read A.%s on the target: %v", topic, err)
	}
	r = harness.Compare(want, committed)
	e.t.Logf("read_committed: %s", r)
	if !r.Clean() {
		e.t.Errorf("read_committed: A.%s is not a faithful copy of %s: %s", topic, topic, r.Summary())
		e.logTxnState("A." + topic)
	}
	checkNoDuplicates(e.t, r, "read_committed consumers see each record once")

	all, err := harness.ReadTopic(ctx, e.dst.Opts(), "A."+topic)
	if err != nil {
		e.t.Fatalf("read A.%s on the target: %v", topic, err)
	}
	ru := harness.Compare(want, all)
	_, _, m, d, o, f, c := ru.Totals()
	if m != 0 || o != 0 || f != 0 || c != 0 {
		e.t.Errorf("read_uncommitted: %s (foreign: records of aborted source transactions?)", ru.Summary())
	}
	aborted := make(map[string]bool)
	for _, k := range prod.AbortedKeys() {
		aborted[k] = true
	}
	for p, rs := range all.Parts {
		for _, rec := range rs {
			if aborted[rec.Key] {
				e.t.Errorf("A.%s[%d] offset %d holds %s, a record of an aborted source transaction", topic, p, rec.Offset, rec.Key)
				return r, d
			}
		}
	}
	if len(aborted) == 0 {
		e.t.Errorf("the source producer aborted no transaction")
	}
	return r, d
}

// waitCommittedTxn is waitCommitted for a source written in
// transactions: its last offset is a marker, and the last record copied is
// the last committed one.
func (e *env) waitCommittedTxn(topic string, within time.Duration) bool {
	e.t.Helper()
	ctx, cancel := ctxFor(2 * time.Minute)
	defer cancel()
	src, err := harness.ReadTopicCommitted(ctx, e.src.Opts(), topic)
	if err != nil {
		e.t.Fatalf("read %s on the source: %v", topic, err)
	}
	want := make(map[int32]int64)
	for p, rs := range src.Parts {
		if len(rs) > 0 {
			want[p] = rs[len(rs)-1].Offset
		}
	}
	deadline := time.Now().Add(within)
	for {
		c := e.committed(topic)
		if mapsEqual(c, want) {
			return true
		}
		if time.Now().After(deadline) {
			e.t.Errorf("after %v the committed offsets of %s are %v; its last committed records are at %v", within, topic, c, want)
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopFencedWorker stops w, whose task may have failed fenced within the
// last minute (and then run again): a worker reports such a failure when
// it exits, with code 1. Any other failure fails the test.
func (e *env) stopFencedWorker(w *harness.Worker) {
	e.t.Helper()
	w.Signal(syscall.SIGTERM)
	code, _, ok := w.WaitExit(time.Minute)
	switch {
	case !ok:
		e.t.Errorf("the worker did not stop within a minute")
	case code == 1 && strings.Contains(w.Log(), "worker stopped with errors") && strings.Contains(w.Log(), "was fenced"):
	case code != 0:
		e.t.Errorf("the worker exited with %d:\n%s", code, w.Log())
	}
}

// logTxnState logs the high watermarks and last stable offsets of topic
// on B, and the transactions B knows, to tell a copy that is short from a
// last stable offset that is stuck.
func (e *env) logTxnState(topic string) {
	ctx, cancel := ctxFor(10 * time.Second)
	defer cancel()
	hwm, err1 := e.dstAdm.ListEndOffsets(ctx, topic)
	lso, err2 := e.dstAdm.ListCommittedOffsets(ctx, topic)
	ls, err3 := e.dstAdm.ListTransactions(ctx, nil, nil)
	e.t.Logf("%s on B: high watermarks %v, last stable offsets %v, transactions %v (errors: %v %v %v)",
		topic, offsetsOf(hwm), offsetsOf(lso), ls, err1, err2, err3)
}

func offsetsOf(l kadm.ListedOffsets) map[int32]int64 {
	out := make(map[int32]int64)
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// txnOngoing reports whether the task's transactional id has a transaction
// open on B.
func (e *env) txnOngoing(id string) bool {
	ctx, cancel := ctxFor(10 * time.Second)
	defer cancel()
	ls, err := e.dstAdm.ListTransactions(ctx, nil, nil)
	if err != nil {
		return false
	}
	return ls[id].State == "Ongoing"
}

// TestFault_ExactlyOnceKillWorker kills the worker with SIGKILL again and
// again (3 times, 20 in the full run) at random moments while the source
// producer writes transactions with aborts and a consumer group on the
// source commits further now and then; a new worker starts after each kill
// and fences the dead one's open transaction. Bound: see above; a worker
// killed mid-transaction leaves an open transaction that its successor
// aborts, whose copies only read_uncommitted consumers see. The group's
// checkpoints and its offsets synced to the target are exact translations
// (over the target's markers and aborted copies), whatever the kills.
func TestFault_ExactlyOnceKillWorker(t *testing.T) {
	skipShort(t)
	t.Parallel()
	kills := pick(3, 20)
	rng := seeded(t)
	e := eosEnv(t, "300", groupSettings)
	const parts = 4
	e.createTopic("orders", parts)
	prod := e.produceTxn("orders", parts, "k", pick(2000, 4000))
	billing := e.sourceGroup("billing", "orders", rng)
	for i := range kills {
		w := e.worker()
		// The dead worker's units come to this one once its session
		// expired: kill it at a random moment after its task started.
		w.WaitLog(txnReady, time.Minute)
		d := time.Duration(rng.IntN(pick(2500, 5000))) * time.Millisecond
		time.Sleep(d)
		billing.commit()
		w.Kill()
		t.Logf("kill %d, %v after the task started: %d records on the target, committed %v", i+1, d, sum(e.targetEnds("orders")), e.committed("orders"))
	}
	last := e.worker()
	produced := e.stopProducer(prod)
	e.waitCommittedTxn("orders", 2*time.Minute)
	billing.commit()
	checkpoints := billing.check(time.Minute)
	e.stopWorker(last)
	r, abortedCopies := e.checkExactlyOnce("orders", prod)
	t.Logf("%d copies in the target's aborted transactions (killed workers' open transactions)", abortedCopies)
	result(t, r, produced, fmt.Sprintf("0 in read_committed after %d kills (read_uncommitted: %d aborted copies); %d checkpoints and the synced group exact", kills, abortedCopies, checkpoints))
}

// txnReady is what a worker logs when a task's transactional producer has
// fenced the task's earlier producers.
const txnReady = "transactional producer ready"

// waitTxnOpen waits until the task's transactional id has a transaction
// open on B: records sent, not committed yet.
func (e *env) waitTxnOpen(id string) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !e.txnOngoing(id) {
		if time.Now().After(deadline) {
			e.t.Fatalf("no transaction of %s open within a minute", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFault_ExactlyOnceTaskMoves moves the task to another worker of the
// group mid-transaction: the worker running it freezes (SIGSTOP) with
// records in an open transaction, a second worker joins, the frozen
// worker's session expires and the group gives every unit to the second,
// whose task fences the frozen one with the task's transactional id (the
// frozen worker's open transaction is aborted) and starts from the offsets
// committed. Thawed (SIGCONT), the old owner commits nothing of what it
// held: its lease is over and its producer fenced; it rejoins the group.
// Bound: see above; the old owner's aborted transaction is seen by
// read_uncommitted consumers only.
func TestFault_ExactlyOnceTaskMoves(t *testing.T) {
	skipShort(t)
	t.Parallel()
	e := eosEnv(t, "2000") // long transactions: the move lands in one
	const parts = 4
	e.createTopic("orders", parts)
	prod := e.produceTxn("orders", parts, "k", pick(2000, 4000))
	first := e.worker()
	first.WaitLog(txnReady, time.Minute)
	e.waitCopying("orders", 2000, time.Minute)
	e.waitTxnOpen("A-mm2-MirrorSourceConnector-0")
	first.Signal(syscall.SIGSTOP)
	frozen := sum(e.targetEnds("orders"))
	second := e.worker()
	second.WaitLog("earlier producers of this task are fenced", time.Minute)
	e.waitCopying("orders", frozen+2000, time.Minute)
	first.Signal(syscall.SIGCONT)
	e.waitCopying("orders", sum(e.targetEnds("orders"))+2000, time.Minute)
	produced := e.stopProducer(prod)
	e.waitCommittedTxn("orders", 2*time.Minute)
	e.stopFencedWorker(first)
	e.stopFencedWorker(second)
	e.checkFenced(t, prod, produced, "the frozen owner")
}

// checkFenced checks the bound on orders and that the fence aborted the
// open transaction of the worker it names (read_uncommitted consumers see
// its copies), and reports the result.
func (e *env) checkFenced(t *testing.T, prod *harness.Producer, produced int64, fenced string) {
	t.Helper()
	r, abortedCopies := e.checkExactlyOnce("orders", prod)
	if abortedCopies == 0 {
		t.Errorf("read_uncommitted sees no aborted copy: %s's open transaction should have been aborted by the fence", fenced)
	}
	result(t, r, produced, fmt.Sprintf("0 in read_committed (read_uncommitted: %d copies of the fenced transaction)", abortedCopies))
}

// TestFault_ExactlyOnceTwoGroups runs the task twice by mistake: two
// workers on the same flows in two groups (mm2go.group.id differs), the
// second started while the first has records in an open transaction (the
// first frozen meanwhile, so that it has). The
// task's transactional id is the same in both, so the second fences the
// first: the first's open transaction is aborted, its task fails saying it
// was fenced and commits nothing more (it is stopped then). Bound: see
// above.
func TestFault_ExactlyOnceTwoGroups(t *testing.T) {
	skipShort(t)
	t.Parallel()
	e := eosEnv(t, "2000")
	const parts = 4
	e.createTopic("orders", parts)
	prod := e.produceTxn("orders", parts, "k", pick(2000, 4000))
	first := e.worker()
	e.waitCopying("orders", 2000, time.Minute)
	// Frozen with records in an open transaction (a caught-up task commits
	// every 100 ms: without the freeze the fence may find it between two
	// transactions), the first is fenced by the second's start.
	e.waitTxnOpen("A-mm2-MirrorSourceConnector-0")
	first.Signal(syscall.SIGSTOP)
	other := e.flow
	other.Settings = maps.Clone(e.flow.Settings)
	other.Settings["mm2go.group.id"] = "another-group"
	second := harness.StartWorker(t, other.Write(t, filepath.Join(t.TempDir(), "other.yaml")))
	second.WaitLog("MirrorSourceConnector-0 took=", time.Minute) // its task's producer fenced the first's
	first.Signal(syscall.SIGCONT)
	first.WaitLog("was fenced", time.Minute) // its task failed, and says why
	e.stopFencedWorker(first)
	e.waitCopying("orders", sum(e.targetEnds("orders"))+2000, time.Minute)
	produced := e.stopProducer(prod)
	e.waitCommittedTxn("orders", 2*time.Minute)
	e.stopWorker(second)
	e.checkFenced(t, prod, produced, "the first worker")
}

// TestFault_ExactlyOnceBrokerRestart restarts the target broker (SIGTERM)
// while the worker copies in transactions: the transaction open at the
// restart cannot commit, and the task starts again from its committed
// offsets. Bound: see above.
//
// kfake difference: after a crash (SIGKILL) kfake aborts the transactions
// that were open without writing abort markers, and keeps their producer
// ids. A read_committed consumer then skips every later batch of such a
// producer id (it waits for the abort marker that never comes), so the
// records the worker commits after the crash look lost to it although they
// are on the target. Kafka's coordinator writes the markers when it
// completes the abort, so this scenario restarts the broker gracefully.
func TestFault_ExactlyOnceBrokerRestart(t *testing.T) {
	skipShort(t)
	t.Parallel()
	e := eosEnv(t, "300")
	const parts = 4
	e.createTopic("orders", parts)
	prod := e.produceTxn("orders", parts, "k", pick(2000, 4000))
	w := e.worker()
	e.waitCopying("orders", 2000, time.Minute)
	e.dst.Stop()
	time.Sleep(pick(time.Second, 5*time.Second))
	e.dst.Start()
	before := sum(e.targetEnds("orders"))
	e.waitCopying("orders", before+2000, 2*time.Minute)
	produced := e.stopProducer(prod)
	e.waitCommittedTxn("orders", 2*time.Minute)
	if !w.Running() {
		t.Fatalf("the worker exited during the broker restart:\n%s", w.Log())
	}
	e.stopWorker(w)
	r, abortedCopies := e.checkExactlyOnce("orders", prod)
	result(t, r, produced, fmt.Sprintf("0 in read_committed after a target crash (read_uncommitted: %d aborted copies)", abortedCopies))
}

// TestFault_ExactlyOnceTargetAway cuts the worker off the target (a black
// hole: connections accepted, nothing answered) for longer than the
// transaction timeout (producer.transaction.timeout.ms=4000): the target
// aborts the open transaction on its own, the worker's producer finds
// itself fenced when the target answers again, and the task starts again
// from its committed offsets. Bound: see above.
func TestFault_ExactlyOnceTargetAway(t *testing.T) {
	skipShort(t)
	t.Parallel()
	e := newEnv(t, envOpts{
		proxyTarget: true,
		settings:    map[string]string{"transaction.boundary.interval.ms": "1000"},
		targetProperties: map[string]string{"exactly.once.source.support": "enabled",
			"producer.transaction.timeout.ms": "4000"},
	})
	const parts = 4
	e.createTopic("orders", parts)
	prod := e.produceTxn("orders", parts, "k", pick(2000, 4000))
	w := e.worker()
	e.waitCopying("orders", 2000, time.Minute)
	e.dstPx.BlackHole()
	time.Sleep(pick(8*time.Second, 15*time.Second))
	e.dstPx.Heal()
	before := sum(e.targetEnds("orders"))
	e.waitCopying("orders", before+2000, 2*time.Minute)
	produced := e.stopProducer(prod)
	e.waitCommittedTxn("orders", 2*time.Minute)
	if !w.Running() {
		t.Fatalf("the worker exited while the target was away:\n%s", w.Log())
	}
	e.stopFencedWorker(w)
	r, abortedCopies := e.checkExactlyOnce("orders", prod)
	if !strings.Contains(w.Log(), "fenced") && !strings.Contains(w.Log(), "transaction aborted") {
		t.Errorf("the worker never aborted a transaction although the target timed one out")
	}
	result(t, r, produced, fmt.Sprintf("0 in read_committed after the target timed out a transaction (read_uncommitted: %d aborted copies)", abortedCopies))
}
