package connect

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// This file is the offsets API (rest_offsets.go) of a connector whose
// herder copies exactly once, as Connect's DistributedHerder and Worker do
// it (KIP-618, KIP-875): before the offsets of such a connector change, a
// round of zombie fencing ends every producer that may still write as one
// of its tasks (a frozen or partitioned worker's, whose open transaction
// could otherwise commit its offsets over the operator's later), and the
// new offsets are written in a transaction, so that they are all written
// or none is.

// offsetsWriter is how a connector's offsets are changed: transactional
// (exactly-once mode: groupID is the herder's group.id) or not ("").
type offsetsWriter struct {
	groupID string
}

// exactlyOnce says whether the offsets are written in a transaction.
func (o offsetsWriter) exactlyOnce() bool { return o.groupID != "" }

// offsetsWriterOf returns how spec's offsets change. Connect decides by the
// worker's exactly.once.source.support, not by the connector's config: a
// connector whose exactly-once keys are wrong never ran, but its herder's
// tasks write transactionally all the same.
func (w *Worker) offsetsWriterOf(spec ConnectorSpec) offsetsWriter {
	h := w.cfg.herder(spec.Source, spec.Target)
	if !h.ExactlyOnce {
		return offsetsWriter{}
	}
	return offsetsWriter{groupID: h.GroupID}
}

// offsetsTxnID is the transactional id the offsets of connector are
// written with: task 0's, as Connect's Worker.modifySourceConnectorOffsets
// builds its producer with the configs of task 0 of the connector
// (exactlyOnceSourceTaskProducerConfigs(new ConnectorTaskId(connName, 0))).
// Initializing it fences task 0 once more, which the zombie fencing did
// already.
func offsetsTxnID(groupID, connector string) string { return TransactionalID(groupID, connector, 0) }

// tasksToFence is how many task ids of h's connector a zombie fencing
// covers: the most of its tasks.max, the task configs the group's config
// topic holds for it (they stay there while it is stopped), and the most
// task configs it ran on this worker. Connect fences the task count it
// recorded at its last fencing; mm2go records none, so it takes every
// count a task of the connector may have run with.
func (w *Worker) tasksToFence(h *connControl) int {
	n, err := h.spec.Props.Int("tasks.max", 1)
	if err != nil || n < 1 {
		n = 1
	}
	h.mu.Lock()
	n = max(n, int64(h.tasksRan))
	h.mu.Unlock()
	w.mu.Lock()
	v := w.view
	w.mu.Unlock()
	if g, ok := v.(*groupRun); ok {
		if rec, ok := g.ct.taskConfigs(h.spec.id()); ok {
			n = max(n, int64(len(rec.Tasks)))
		}
	}
	return int(n)
}

// fenceOffsetZombies is the round of zombie fencing before the offsets of
// a stopped exactly-once connector change: it initializes the
// transactional id of each of its tasks ("<group.id>-<connector>-<task>"
// for the task ids below tasksToFence, and any higher one the target
// lists), which aborts the open transaction of every earlier producer with
// that id and makes each of its later writes and commits fail. An error
// fails the change before anything is written.
func (w *Worker) fenceOffsetZombies(ctx context.Context, h *connControl, groupID string) error {
	spec := h.spec
	name := connectName(spec.Source, spec.Target, spec.Name)
	log := w.log.With("connector", name)
	n := w.tasksToFence(h)
	ids := make(map[int]bool, n)
	for id := range n {
		ids[id] = true
	}
	// A task id above n may have run before tasks.max was lowered: the
	// target knows its transactional id. Connect fences only the count
	// it recorded; the listing is mm2go's addition, and not required.
	if listed, err := w.listTaskTxnIDs(ctx, spec, groupID); err != nil {
		log.Warn("exactly-once: cannot list the target's transactions (DESCRIBE on transactional ids, Kafka 3.0+); "+
			"fencing the task ids up to the connector's task count only", "tasks", n, "error", err)
	} else {
		for _, id := range listed {
			ids[id] = true
		}
	}
	sorted := make([]int, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Ints(sorted)
	for _, id := range sorted {
		txnID := TransactionalID(groupID, spec.Name, id)
		if err := w.fenceTransactionalID(ctx, spec, txnID); err != nil {
			log.Error("exactly-once: zombie fencing before an offsets change failed; no offsets were changed",
				"transactional_id", txnID, "error", err)
			return httpErr(http.StatusInternalServerError,
				"Failed to perform zombie fencing for source connector %s prior to modifying offsets: initializing transactional id %s on %s failed: %v. "+
					"No offsets were changed; retry once the target is reachable and the worker's principal may write with transactional ids %s-%s-*",
				name, txnID, spec.Target, err, groupID, spec.Name)
		}
	}
	log.Info("exactly-once: fenced the connector's tasks before its offsets change", "tasks", len(sorted))
	return nil
}

// listTaskTxnIDs returns the task ids of spec's transactional ids that the
// target knows.
func (w *Worker) listTaskTxnIDs(ctx context.Context, spec ConnectorSpec, groupID string) ([]int, error) {
	adm, err := w.cfg.newClient(spec.Target, RoleAdmin)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	listed, err := kadm.NewClient(adm).ListTransactions(ctx, nil, nil)
	if err != nil {
		return nil, err
	}
	prefix := groupID + "-" + spec.Name + "-"
	var ids []int
	for txnID := range listed {
		if rest, ok := strings.CutPrefix(txnID, prefix); ok {
			if id, err := strconv.Atoi(rest); err == nil && id >= 0 && strconv.Itoa(id) == rest {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// produceOffsetsTxn writes recs to the offsets topic in one transaction
// with cl, whose transactional id it initializes first: they all commit, or
// none does. A commit whose outcome the client could not learn is
// reported as such.
func produceOffsetsTxn(ctx context.Context, cl *kgo.Client, txnID string, recs []*kgo.Record) error {
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("initialize transactional id %s: %w; no offsets were changed", txnID, err)
	}
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin a transaction of %s: %w; no offsets were changed", txnID, err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		// Never cancel an EndTransaction midway: give the abort its own time.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTransactionTimeout)
		defer cancel()
		aerr := cl.AbortBufferedRecords(actx)
		if aerr == nil {
			aerr = cl.EndTransaction(actx, kgo.TryAbort)
		}
		if aerr != nil {
			return fmt.Errorf("%w; aborting the transaction of %s failed too (%v): the target aborts it after its transaction.timeout.ms, "+
				"and no offsets were changed", err, txnID, aerr)
		}
		return fmt.Errorf("%w; the transaction was aborted, no offsets were changed", err)
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTransactionTimeout)
	defer cancel()
	if err := cl.EndTransaction(ectx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit the transaction of %s: %w; either every offset of the request was changed or none was: "+
			"GET the connector's offsets to see which", txnID, err)
	}
	return nil
}
