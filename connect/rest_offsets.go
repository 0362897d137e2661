package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// This file serves Connect's offsets API (KIP-875) for a connector: its
// source offsets as they are in the Connect offsets topic on the target,
// and, for a STOPPED connector, changing or deleting them, as Connect does
// (in exactly-once mode after fencing its zombie tasks, in a transaction:
// rest_offsets_eos.go).

// ConnectorOffset is one source partition's offset: Connect's
// ConnectorOffset. The partition holds strings and integers (int64); the
// offset is the stored JSON object ({"offset": N} for MM2), nil when
// deleted.
type ConnectorOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// storedOffset is one key of the offsets topic as last written.
type storedOffset struct {
	key    []byte
	fields []OffsetField
	value  []byte // nil: deleted
}

// readOffsets reads the connector's keys from its herder's offsets topic,
// the last value of each, read_committed: what an aborted transaction
// wrote is neither shown nor taken as an existing key. until says whether
// the read waits for the transactions open in the topic (UntilWritten:
// before a change in exactly-once mode, once the connector's own are
// fenced, so that no value it committed last is missed).
func (w *Worker) readOffsets(ctx context.Context, spec ConnectorSpec, until kread.Until) ([]storedOffset, error) {
	topic := w.cfg.herder(spec.Source, spec.Target).OffsetsTopic
	cc, ok := w.cfg.Clusters[spec.Target]
	if !ok {
		return nil, fmt.Errorf("cluster %q is not configured", spec.Target)
	}
	opts := append(append([]kgo.Opt(nil), cc.Opts...), cc.ConsumerOpts...)
	byKey := make(map[string]*storedOffset)
	err := kread.Read(ctx, opts, topic, nil, until, func(r *kgo.Record) error {
		ns, fields, err := ParseOffsetKey(r.Key)
		if err != nil || ns != spec.Name {
			return nil // another connector's, or not Connect's format: Connect skips it too
		}
		byKey[string(r.Key)] = &storedOffset{key: r.Key, fields: fields, value: r.Value}
		return nil
	})
	if errors.Is(err, kread.ErrTopicNotFound) {
		return nil, nil
	}
	if err != nil {
		if until == kread.UntilWritten && errors.Is(err, context.DeadlineExceeded) {
			// The connector's own transactions are fenced: another
			// producer's is still open (another connector's zombie),
			// until it commits or the target aborts it.
			return nil, fmt.Errorf("read source offsets of %s from %s on %s, waiting for the transactions open in it to end "+
				"(another connector's task that froze holds one until its transaction.timeout.ms passes; retry then); no offsets were changed: %w",
				spec.Name, topic, spec.Target, err)
		}
		return nil, fmt.Errorf("read source offsets of %s from %s on %s: %w", spec.Name, topic, spec.Target, err)
	}
	out := make([]storedOffset, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].key, out[j].key) < 0 })
	return out, nil
}

// ConnectorOffsets returns the connector's source offsets, as they are in
// the Connect offsets topic on its target (what every worker committed),
// sorted by key.
func (w *Worker) ConnectorOffsets(ctx context.Context, name string) ([]ConnectorOffset, error) {
	h, err := w.connector(name)
	if err != nil {
		return nil, err
	}
	stored, err := w.readOffsets(ctx, h.spec, kread.UntilStable)
	if err != nil {
		return nil, err
	}
	out := []ConnectorOffset{}
	for _, s := range stored {
		if len(s.value) == 0 || string(s.value) == "null" {
			continue
		}
		var off map[string]any
		d := json.NewDecoder(bytes.NewReader(s.value))
		d.UseNumber()
		if d.Decode(&off) != nil {
			continue // not Connect's format; Connect skips it too
		}
		out = append(out, ConnectorOffset{Partition: fieldsMap(s.fields), Offset: off})
	}
	return out, nil
}

func fieldsMap(fields []OffsetField) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		if f.IsInt {
			m[f.Name] = f.Int
		} else {
			m[f.Name] = f.Str
		}
	}
	return m
}

// offsetShape is what MM2's connectors accept as their source partitions
// and offsets (MirrorUtils' validation in each connector's alterOffsets).
type offsetShape struct {
	strings   []string // string fields of the partition
	partition bool     // an int "partition" field
	onlyZero  bool     // the offset must be 0
	canonical func(ns string, p map[string]any) []byte
}

var offsetShapes = map[string]offsetShape{
	"MirrorSourceConnector": {strings: []string{"cluster", "topic"}, partition: true,
		canonical: func(ns string, p map[string]any) []byte {
			return MirrorSourceOffsetKey(ns, p["cluster"].(string), p["topic"].(string), int32(p["partition"].(int64)))
		}},
	"MirrorCheckpointConnector": {strings: []string{"group", "topic"}, partition: true, onlyZero: true,
		canonical: func(ns string, p map[string]any) []byte {
			return MirrorCheckpointOffsetKey(ns, p["group"].(string), p["topic"].(string), int32(p["partition"].(int64)))
		}},
	"MirrorHeartbeatConnector": {strings: []string{"sourceClusterAlias", "targetClusterAlias"}, onlyZero: true,
		canonical: func(ns string, p map[string]any) []byte {
			return MirrorHeartbeatOffsetKey(ns, p["sourceClusterAlias"].(string), p["targetClusterAlias"].(string))
		}},
}

// shapeOf returns the offsets shape of a connector class, false for a
// class that is not one of MM2's.
func shapeOf(class string) (offsetShape, bool) {
	s, ok := offsetShapes[class[strings.LastIndexByte(class, '.')+1:]]
	return s, ok
}

// requestPartition converts a JSON partition map: strings stay, integral
// numbers become int64; anything else is an error.
func requestPartition(p map[string]any) (map[string]any, []OffsetField, error) {
	if p == nil {
		return nil, nil, badRequest("Source partitions may not be null")
	}
	out := make(map[string]any, len(p))
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	var fields []OffsetField
	for _, k := range names {
		switch v := p[k].(type) {
		case string:
			out[k] = v
			fields = append(fields, StrField(k, v))
		case json.Number:
			n, err := v.Int64()
			if err != nil {
				return nil, nil, badRequest("Source partition %v has an invalid value %s for the '%s' key, which must be a string or an integer", p, v, k)
			}
			out[k] = n
			fields = append(fields, IntField(k, n))
		default:
			return nil, nil, badRequest("Source partition %v has an invalid value %v for the '%s' key, which must be a string or an integer", p, v, k)
		}
	}
	return out, fields, nil
}

// validate checks a partition and its offset (nil: delete) as MM2's
// connector of this shape does.
func (s offsetShape) validate(p map[string]any, off map[string]any) error {
	if off == nil {
		return nil // deleting is always allowed, as in MM2
	}
	for _, k := range s.strings {
		v, ok := p[k]
		if !ok {
			return badRequest("Source partition %v is missing the '%s' key, which is required", p, k)
		}
		if _, ok := v.(string); !ok {
			return badRequest("Source partition %v has an invalid value %v for the '%s' key, which must be a string", p, v, k)
		}
	}
	if s.partition {
		v, ok := p["partition"]
		if !ok {
			return badRequest("Source partition %v is missing the 'partition' key, which is required", p)
		}
		n, ok := v.(int64)
		if !ok || n > math.MaxInt32 {
			return badRequest("Source partition %v has an invalid value %v for the 'partition' key, which must be an integer", p, v)
		}
		if n < 0 {
			return badRequest("Source partition %v has an invalid value %v for the 'partition' key, which cannot be negative", p, v)
		}
	}
	return validateOffset(p, off, s.onlyZero)
}

func validateOffset(p, off map[string]any, onlyZero bool) error {
	v, ok := off["offset"]
	if !ok {
		return badRequest("Source offset %v for source partition %v is missing the 'offset' key, which is required", off, p)
	}
	num, ok := v.(json.Number)
	n, err := num.Int64()
	if !ok || err != nil {
		return badRequest("Source offset %v for source partition %v has an invalid value %v for the 'offset' key, which must be an integer", off, p, v)
	}
	if onlyZero && n != 0 {
		return badRequest("Source offset %v for source partition %v has an invalid value %v for the 'offset' key; the only accepted value is 0", off, p, v)
	}
	if !onlyZero && n < 0 {
		return badRequest("Source offset %v for source partition %v has an invalid value %v for the 'offset' key, which cannot be negative", off, p, v)
	}
	return nil
}

// mustBeStopped is Connect's check before offsets change: the connector's
// target state is STOPPED and it stopped.
func (w *Worker) mustBeStopped(h *connControl) error {
	name := connectName(h.spec.Source, h.spec.Target, h.spec.Name)
	if w.targetState(h.spec) != TargetStopped {
		return badRequest("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint", name)
	}
	// In a group the connector and its tasks may run on other workers:
	// what they published counts.
	var cs ConnectorStatus
	for _, s := range w.Status() {
		if s.Source == h.spec.Source && s.Target == h.spec.Target && s.Name == h.spec.Name {
			cs = s
		}
	}
	if cs.State != StateStopped || len(cs.Tasks) > 0 && cs.Tasks[0].State != StateFailed {
		return conflict("Connector %s is still stopping; try again once its status says STOPPED", name)
	}
	return nil
}

// AlterConnectorOffsets writes offsets (nil Offset: delete) for a STOPPED
// connector to its Connect offsets topic, in the shape MM2's connector of
// its class accepts, under the exact key bytes it reads (an existing key's
// bytes, or the ones MM2 writes), and makes this worker's tasks start from
// them when the connector is resumed. In exactly-once mode it first fences
// the connector's zombie tasks and writes the offsets in a transaction
// (rest_offsets_eos.go). ErrBadRequest when the connector is not stopped
// or an offset is wrong.
func (w *Worker) AlterConnectorOffsets(ctx context.Context, name string, offsets []ConnectorOffset) error {
	h, err := w.connector(name)
	if err != nil {
		return err
	}
	if len(offsets) == 0 {
		return badRequest("Partitions / offsets need to be provided for an alter offsets request")
	}
	if err := w.mustBeStopped(h); err != nil {
		return err
	}
	// The request is checked whole before anything is fenced or written.
	type change struct {
		p      map[string]any
		fields []OffsetField
		offset map[string]any
	}
	shape, mm2 := shapeOf(h.spec.Class)
	changes := make([]change, 0, len(offsets))
	for _, o := range offsets {
		p, fields, err := requestPartition(o.Partition)
		if err != nil {
			return err
		}
		if mm2 {
			err = shape.validate(p, o.Offset)
		} else if o.Offset != nil {
			err = validateOffset(p, o.Offset, false)
		}
		if err != nil {
			return err
		}
		changes = append(changes, change{p, fields, o.Offset})
	}
	ow, stored, err := w.prepareOffsetsChange(ctx, h)
	if err != nil {
		return err
	}
	existing := make(map[string][]byte, len(stored))
	for _, s := range stored {
		existing[fieldsKey(s.fields)] = s.key
	}
	recs := make([]*kgo.Record, 0, len(changes))
	for _, c := range changes {
		key, ok := existing[fieldsKey(c.fields)]
		switch {
		case ok:
		case mm2 && shape.validate(c.p, map[string]any{"offset": json.Number("0")}) == nil:
			key = shape.canonical(h.spec.Name, c.p)
		default:
			key = OffsetKey(h.spec.Name, c.fields...)
		}
		rec := &kgo.Record{Key: key}
		if c.offset != nil {
			n, _ := c.offset["offset"].(json.Number).Int64()
			rec.Value = AppendOffsetValue(nil, n)
		}
		recs = append(recs, rec)
	}
	return w.writeOffsets(ctx, h, ow, recs)
}

// ResetConnectorOffsets deletes every source offset of a STOPPED connector
// (tombstones in its Connect offsets topic): resumed, its tasks start as
// if new (MM2: from the source's reset point). In exactly-once mode it
// first fences the connector's zombie tasks and writes the tombstones in a
// transaction.
func (w *Worker) ResetConnectorOffsets(ctx context.Context, name string) error {
	h, err := w.connector(name)
	if err != nil {
		return err
	}
	if err := w.mustBeStopped(h); err != nil {
		return err
	}
	ow, stored, err := w.prepareOffsetsChange(ctx, h)
	if err != nil {
		return err
	}
	var recs []*kgo.Record
	for _, s := range stored {
		if len(s.value) > 0 {
			recs = append(recs, &kgo.Record{Key: s.key})
		}
	}
	return w.writeOffsets(ctx, h, ow, recs)
}

// prepareOffsetsChange readies a change of h's offsets and returns what
// is stored now: in exactly-once mode it fences the connector's zombie
// tasks, checks again that the connector is stopped (as Connect does after
// its fencing, which took time), and reads the offsets topic waiting for
// open transactions (none of the connector's is left open by then). An
// at-least-once connector reads up to the last stable offset, as before.
func (w *Worker) prepareOffsetsChange(ctx context.Context, h *connControl) (offsetsWriter, []storedOffset, error) {
	ow := w.offsetsWriterOf(h.spec)
	until := kread.UntilStable
	if ow.exactlyOnce() {
		if err := w.fenceOffsetZombies(ctx, h, ow.groupID); err != nil {
			return ow, nil, err
		}
		if err := w.mustBeStopped(h); err != nil {
			return ow, nil, err
		}
		until = kread.UntilWritten
	}
	stored, err := w.readOffsets(ctx, h.spec, until)
	return ow, stored, err
}

// fieldsKey identifies a partition map whatever the order of its fields.
func fieldsKey(fields []OffsetField) string {
	fs := append([]OffsetField(nil), fields...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	b, _ := json.Marshal(fs)
	return string(b)
}

// writeOffsets produces recs to the connector's offsets topic (in one
// transaction in exactly-once mode), waits for the target to acknowledge
// them, and applies them to the herder's source offsets on this worker,
// which its tasks start from.
func (w *Worker) writeOffsets(ctx context.Context, h *connControl, ow offsetsWriter, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	topic := w.cfg.herder(h.spec.Source, h.spec.Target).OffsetsTopic
	opts := []kgo.Opt{
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // Java's murmur2 key partitioning
		kgo.DefaultProduceTopic(topic),
	}
	var txnID string
	if ow.exactlyOnce() {
		// Task 0's producer, as Connect's (see offsetsTxnID).
		txnID = offsetsTxnID(ow.groupID, h.spec.Name)
		opts = append(append(append([]kgo.Opt(nil), h.spec.RecordProducer...), opts...), kgo.TransactionalID(txnID))
	}
	cl, err := w.cfg.newClient(h.spec.Target, RoleProducer, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if ow.exactlyOnce() {
		err = produceOffsetsTxn(ctx, cl, txnID, recs)
	} else {
		err = cl.ProduceSync(ctx, recs...).FirstErr()
	}
	if err != nil {
		w.log.Error("changing source offsets on request failed", "connector", connectName(h.spec.Source, h.spec.Target, h.spec.Name),
			"topic", topic, "transactional_id", txnID, "error", err)
		return fmt.Errorf("Failed to modify offsets for source connector %s: write to %s on %s: %w",
			connectName(h.spec.Source, h.spec.Target, h.spec.Name), topic, h.spec.Target, err)
	}
	h.mu.Lock()
	store := h.store
	h.mu.Unlock()
	if store != nil {
		for _, r := range recs {
			store.applyAt(r.Key, r.Value, r.Offset)
		}
	}
	w.log.Info("source offsets changed on request", "connector", connectName(h.spec.Source, h.spec.Target, h.spec.Name),
		"topic", topic, "partitions", len(recs), "transactional_id", txnID)
	return nil
}

func (a *restAPI) getOffsets(rw http.ResponseWriter, r *http.Request, name string) {
	offs, err := a.w.ConnectorOffsets(r.Context(), name)
	if err != nil {
		writeErr(rw, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"offsets": offs})
}

// changeOffsets serves PATCH and DELETE /connectors/{name}/offsets, at the
// group's leader.
func (a *restAPI) changeOffsets(rw http.ResponseWriter, r *http.Request, name string) {
	if a.toLeader(rw, r) {
		return
	}
	var err error
	verb := "reset"
	if r.Method == http.MethodPatch {
		verb = "altered"
		var body []byte
		if body, err = readBody(rw, r); err == nil {
			var req struct {
				Offsets []ConnectorOffset `json:"offsets"`
			}
			d := json.NewDecoder(bytes.NewReader(body))
			d.UseNumber()
			if err = d.Decode(&req); err != nil {
				err = httpErr(http.StatusBadRequest, "the request body is not Connect's {\"offsets\": [{\"partition\": {...}, \"offset\": {...}}]}: %v", err)
			} else {
				err = a.w.AlterConnectorOffsets(r.Context(), name, req.Offsets)
			}
		}
	} else {
		err = a.w.ResetConnectorOffsets(r.Context(), name)
	}
	if err != nil {
		writeErr(rw, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]string{"message": "The offsets for this connector have been " + verb + " successfully"})
}
