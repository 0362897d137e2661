package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/internal/ktopic"
)

// OffsetsTopic is the Connect offsets topic that MM2 uses for flows from the
// source alias: it lives on the target cluster.
func OffsetsTopic(source string) string { return "mm2-offsets." + source + ".internal" }

// offsetStore keeps the source offsets of one herder (source->target pair) in
// Kafka Connect's offsets topic on the target, in MM2's exact format: key
// `["<connector>",{...partition map...}]`, value `{"offset":N}` (with other
// fields when a task sets them, such as MirrorSource's topic ID),
// partitioned by Kafka's murmur2 of the key. It is loaded once at start
// (last value per key wins, null deletes), so a worker resumes from what
// Java MM2 or an earlier mm2go wrote, and is updated in memory as tasks
// commit. Reads are read_committed: in exactly-once mode tasks commit their
// offsets in transactions, and a value of a transaction that is aborted
// (or still open) is never read.
type offsetStore struct {
	topic string
	log   hclog.Logger
	prod  *kgo.Client // key-hashing producer on the target

	tailMu    sync.Mutex  // guards tail and refreshed; held while reading
	tail      *kread.Tail // reads the topic: all at open, then what others wrote (refresh)
	refreshed time.Time   // when the last refreshWritten began

	mu      sync.Mutex // guards offsets and pos
	offsets map[string]OffsetValue
	// pos is, by key, the offset in the topic of the record its value came
	// from.
	pos map[string]int64
}

// openOffsetStore creates the offsets topic if it is missing, loads it, and
// opens the producer that commits to it; life is the context of its reader
// and producer, which ends at the worker's stop deadline (see clientLife).
func openOffsetStore(ctx, life context.Context, cfg *WorkerConfig, source, target string, log hclog.Logger) (*offsetStore, error) {
	h := cfg.herder(source, target)
	s := &offsetStore{topic: h.OffsetsTopic, log: log, offsets: make(map[string]OffsetValue), pos: make(map[string]int64)}
	adm, err := cfg.newClient(target, RoleAdmin)
	if err != nil {
		return nil, err
	}
	_, err = ktopic.CreateCompacted(ctx, kadm.NewClient(adm), ktopic.Compacted{
		Topic: s.topic, Cluster: target, Partitions: h.OffsetsTopicPartitions,
		ReplicationFactor: h.OffsetsTopicReplication, ReplicationFactorKey: "offset.storage.replication.factor",
	}, log)
	adm.Close()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.WithContext(life)}
	opts = append(opts, cfg.Clusters[target].Opts...)
	opts = append(opts, cfg.Clusters[target].ConsumerOpts...)
	if s.tail, err = kread.NewTail(opts, s.topic); err != nil {
		return nil, err
	}
	n, err := s.catchUp(ctx)
	if err != nil {
		s.tail.Close()
		return nil, fmt.Errorf("load source offsets from %s on %s: %w", s.topic, target, err)
	}
	log.Info("loaded source offsets", "topic", s.topic, "cluster", target, "records", n, "partitions", len(s.offsets))
	s.prod, err = cfg.newClientDefaults(target, RoleProducer, []kgo.Opt{kgo.WithContext(life)},
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // Java's murmur2 key partitioning
		kgo.DefaultProduceTopic(s.topic),
	)
	if err != nil {
		s.tail.Close()
		return nil, err
	}
	return s, nil
}

// catchUp applies what was written to the offsets topic since the last
// catchUp (everything, the first time) and returns how many records it read.
func (s *offsetStore) catchUp(ctx context.Context) (int, error) {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	return s.catchUpLocked(ctx, kread.UntilStable)
}

// catchUpLocked is catchUp up to the end offsets until names; tailMu is
// held.
func (s *offsetStore) catchUpLocked(ctx context.Context, until kread.Until) (int, error) {
	if s.tail == nil {
		return 0, errors.New("the offsets topic's reader is closed")
	}
	n := 0
	err := s.tail.CatchUpTo(ctx, until, func(r *kgo.Record) {
		n++
		s.applyAt(r.Key, r.Value, r.Offset)
	})
	return n, err
}

// dropTail closes the reader of the topic: a worker alone reads it once,
// at open, and its stop should not wait for the reader's close.
func (s *offsetStore) dropTail() {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if s.tail != nil {
		s.tail.Close()
		s.tail = nil
	}
}

// refresh reads what other workers committed since the store was loaded:
// a task that moved to this worker resumes from its previous owner's last
// commit.
func (s *offsetStore) refresh(ctx context.Context) error {
	if _, err := s.catchUp(ctx); err != nil {
		return fmt.Errorf("read source offsets from %s: %w", s.topic, err)
	}
	return nil
}

// refreshWritten reads what was committed to the offsets topic since the
// last read, waiting for the transactions open in it to end
// (kread.UntilWritten): in exactly-once mode a task calls it right after it
// fenced its predecessors (whose last transaction is then committed or
// aborted), so that it starts from the offsets they committed, also those
// that the load at open or a refresh did not wait for. A read that began
// after since serves every caller that fenced before it: tasks starting
// together share one read. The store keeps its reader in exactly-once mode
// (see runHerder).
func (s *offsetStore) refreshWritten(ctx context.Context, since time.Time) error {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if s.refreshed.After(since) {
		return nil
	}
	began := time.Now()
	n, err := s.catchUpLocked(ctx, kread.UntilWritten)
	if err != nil {
		return fmt.Errorf("read source offsets from %s: %w", s.topic, err)
	}
	s.refreshed = began
	s.log.Debug("read source offsets committed since the last read", "topic", s.topic, "records", n, "took", time.Since(began))
	return nil
}

// apply folds one offsets-topic record into the map. Records this worker
// cannot parse (other Connect connectors share the topic format but not
// always the shape) are skipped, as Connect does.
func (s *offsetStore) apply(key, value []byte) { s.applyAt(key, value, -1) }

// applyAt is apply for the record at offset at of its partition (-1:
// unknown). A key always goes to the same partition, so a record older
// than the one a value came from (a refresh reading what this worker
// committed since) does not replace it.
func (s *offsetStore) applyAt(key, value []byte, at int64) {
	if at >= 0 {
		s.mu.Lock()
		stale := s.pos[string(key)] > at
		if !stale {
			s.pos[string(key)] = at
		}
		s.mu.Unlock()
		if stale {
			return
		}
	}
	off, ok, err := ParseOffsetValueFields(value)
	if err != nil {
		s.log.Debug("skipping unparseable source offset", "topic", s.topic, "key", string(key), "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		delete(s.offsets, string(key))
		return
	}
	s.offsets[string(key)] = off
}

// get returns the stored offset of key; negative offsets count as absent, as
// in MM2 (no seek, the reset policy applies).
func (s *offsetStore) get(key []byte) (int64, bool) {
	v, ok := s.value(key)
	return v.Offset, ok && v.Offset >= 0
}

// value returns the stored value of key, negative offsets included.
func (s *offsetStore) value(key []byte) (OffsetValue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.offsets[string(key)]
	return v, ok
}

// position returns the offset in the topic of the record key's value came
// from (0 if unknown): a commit of the key by anyone moves it.
func (s *offsetStore) position(key []byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos[string(key)]
}

// each calls fn with every stored key and value, in no order, from a copy
// taken under the lock.
func (s *offsetStore) each(fn func(key []byte, v OffsetValue)) {
	s.mu.Lock()
	keys := make([]string, 0, len(s.offsets))
	vals := make([]OffsetValue, 0, len(s.offsets))
	for k, v := range s.offsets {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	s.mu.Unlock()
	for i, k := range keys {
		fn([]byte(k), vals[i])
	}
}

// commitEntry is one source offset to commit: the value of sp's key, or a
// null value (deleted) with forget.
type commitEntry struct {
	sp      *SourcePartition
	value   OffsetValue
	forget  bool
	version int64       // sp's value version the entry was read at
	rec     *kgo.Record // its record once produced (records), for its position
}

// commit writes entries to the offsets topic and waits for the target to
// acknowledge all of them, or for ctx to end. On success each entry's
// partition is marked committed; on error nothing is marked and the next
// commit retries. It returns when ctx ends even while the producer still
// waits for the target (an idempotent producer cannot give up a record it
// sent): what lands late is harmless, since the values of a key land in
// order.
func (s *offsetStore) commit(ctx context.Context, entries []commitEntry) error {
	if len(entries) == 0 {
		return nil
	}
	results := make(chan error, len(entries))
	promise := func(r *kgo.Record, err error) {
		if err == nil {
			s.mu.Lock()
			if r.Offset > s.pos[string(r.Key)] {
				s.pos[string(r.Key)] = r.Offset
			}
			s.mu.Unlock()
		}
		results <- err
	}
	for _, r := range s.records(entries) {
		s.prod.Produce(ctx, r, promise)
	}
	for range entries {
		select {
		case err := <-results:
			if err != nil {
				return fmt.Errorf("commit source offsets to %s: %w", s.topic, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("commit source offsets to %s: %w", s.topic, context.Cause(ctx))
		}
	}
	s.committed(entries)
	return nil
}

// records returns the offsets-topic records of entries, in order; each
// entry keeps its record (rec), whose position committed remembers.
func (s *offsetStore) records(entries []commitEntry) []*kgo.Record {
	out := make([]*kgo.Record, len(entries))
	for i := range entries {
		e := &entries[i]
		e.rec = &kgo.Record{Topic: s.topic, Key: e.sp.key}
		if !e.forget {
			e.rec.Value = AppendOffsetValue(nil, e.value.Offset, e.value.Fields...)
		}
		out[i] = e.rec
	}
	return out
}

// committed marks entries committed, in memory and on their partitions,
// once their records (from records) are on the target: acknowledged, or,
// in exactly-once mode, in a committed transaction.
func (s *offsetStore) committed(entries []commitEntry) {
	s.mu.Lock()
	for _, e := range entries {
		if e.forget {
			delete(s.offsets, string(e.sp.key))
		} else {
			s.offsets[string(e.sp.key)] = e.value
		}
		if e.rec != nil && e.rec.Offset > s.pos[string(e.sp.key)] {
			s.pos[string(e.sp.key)] = e.rec.Offset
		}
		e.sp.mu.Lock()
		e.sp.committed, e.sp.committedVersion = e.value.Offset, e.version
		e.sp.mu.Unlock()
	}
	s.mu.Unlock()
}

func (s *offsetStore) close() {
	if s.prod != nil {
		s.prod.Close()
	}
	s.dropTail()
}
