package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/internal/ktopic"
)

// ConfigTopic is the compacted topic a worker group keeps its shared state
// in, on the group's cluster: "mm2go-configs.<group>.internal". It is
// mm2go's own (MM2's mm2-configs.<source>.internal topics hold Java
// Connect's records, which Java MM2 would misread if mm2go wrote them).
func ConfigTopic(group string) string { return "mm2go-configs." + group + ".internal" }

// The config topic's records, one partition, keyed so that compaction keeps
// the last of each:
//
//	tasks/<config hash>/<connector unit>  {"worker": ..., "generation": N, "tasks": [{props}, ...]}
//	target/<connector unit>               {"state": "PAUSED"}
//	status/<unit>                         {"worker_id": ..., "url": ..., "state": ..., "generation": N}
//
// Task configs are keyed by the configuration fingerprint's hash, so a
// worker never runs the task configs of another version of the flow file;
// one record holds all of a connector's task configs, so a reader never
// sees half of a new set. Target states are not: a paused connector stays
// paused across versions of the file, as in Connect.
const (
	keyTasks  = "tasks/"
	keyTarget = "target/"
	keyStatus = "status/"
)

type taskConfigsRecord struct {
	Worker     string  `json:"worker"`
	Generation int32   `json:"generation"`
	Tasks      []Props `json:"tasks"`
}

type targetRecord struct {
	State TargetState `json:"state"`
}

// unitStatus is what the worker running a unit publishes about it.
type unitStatus struct {
	WorkerID   string `json:"worker_id"`
	URL        string `json:"url,omitempty"`
	State      State  `json:"state"`
	Error      string `json:"error,omitempty"`
	Generation int32  `json:"generation"`
}

// configTopic reads and writes a group's config topic. One goroutine (run)
// tails it; the others read its state, which changed() announces.
type configTopic struct {
	topic string
	hash  string // this worker's configuration hash
	log   hclog.Logger
	tail  *kread.Tail
	prod  *kgo.Client

	mu      sync.Mutex
	tasks   map[string]taskConfigsRecord // by connector unit, this configuration's
	targets map[string]TargetState
	status  map[string]unitStatus
	others  map[string]bool // configuration hashes of other task configs seen
	change  chan struct{}   // closed and replaced at each change
	kick    chan struct{}   // asks run to read now
	read    int64           // CatchUps done
	readc   chan struct{}   // closed and replaced after each CatchUp
}

// openConfigTopic creates the config topic if it is missing and opens its
// tail and producer. It reads nothing yet. life is the context of the tail's
// and the producer's clients: it ends at the worker's stop deadline (see
// clientLife).
func openConfigTopic(ctx, life context.Context, cfg *WorkerConfig, cluster, topic, hash string, replication int16, log hclog.Logger) (*configTopic, error) {
	adm, err := cfg.newClient(cluster, RoleAdmin)
	if err != nil {
		return nil, err
	}
	_, err = ktopic.CreateCompacted(ctx, kadm.NewClient(adm), ktopic.Compacted{
		Topic: topic, Cluster: cluster, Partitions: 1, ReplicationFactor: replication,
		ReplicationFactorKey: "config.storage.replication.factor",
	}, log)
	adm.Close()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.WithContext(life)}
	opts = append(opts, cfg.Clusters[cluster].Opts...)
	opts = append(opts, cfg.Clusters[cluster].ConsumerOpts...)
	tail, err := kread.NewTail(opts, topic)
	if err != nil {
		return nil, err
	}
	prod, err := cfg.newClientDefaults(cluster, RoleProducer, []kgo.Opt{kgo.WithContext(life)}, kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(16<<20), kgo.MaxBufferedBytes(64<<20))
	if err != nil {
		tail.Close()
		return nil, err
	}
	return &configTopic{topic: topic, hash: hash, log: log, tail: tail, prod: prod,
		tasks: make(map[string]taskConfigsRecord), targets: make(map[string]TargetState),
		status: make(map[string]unitStatus), others: make(map[string]bool),
		change: make(chan struct{}), readc: make(chan struct{}), kick: make(chan struct{}, 1)}, nil
}

func (c *configTopic) close() {
	c.tail.Close()
	c.prod.Close()
}

// run reads what is written to the topic until ctx ends, every interval.
func (c *configTopic) run(ctx context.Context, interval time.Duration) {
	bo := backoff{max: 5 * time.Second}
	for ctx.Err() == nil {
		err := c.catchUp(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d := bo.next()
			c.log.Warn("reading the group's config topic failed; retrying", "topic", c.topic, "error", err, "backoff", d)
			sleepCtx(ctx, d)
			continue
		}
		bo.reset()
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-c.kick:
		}
		t.Stop()
	}
}

// readNow asks run to read the topic at once.
func (c *configTopic) readNow() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *configTopic) catchUp(ctx context.Context) error {
	changed := false
	err := c.tail.CatchUp(ctx, func(r *kgo.Record) {
		if c.apply(string(r.Key), r.Value) {
			changed = true
		}
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.read++
	close(c.readc)
	c.readc = make(chan struct{})
	if changed {
		close(c.change)
		c.change = make(chan struct{})
	}
	c.mu.Unlock()
	return nil
}

// apply folds one record into the state; it reports whether it changed.
func (c *configTopic) apply(key string, value []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case strings.HasPrefix(key, keyTasks):
		hash, unit, ok := strings.Cut(key[len(keyTasks):], "/")
		if !ok {
			return false
		}
		if hash != c.hash {
			if !c.others[hash] {
				c.others[hash] = true
				c.log.Debug("config topic holds task configs of another configuration; ignored", "config", hash, "connector", unit)
			}
			return false
		}
		if value == nil {
			delete(c.tasks, unit)
			return true
		}
		var rec taskConfigsRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			c.log.Error("unreadable task configs in the group's config topic; ignored", "topic", c.topic, "key", key, "error", err)
			return false
		}
		c.tasks[unit] = rec
		return true
	case strings.HasPrefix(key, keyTarget):
		unit := key[len(keyTarget):]
		var rec targetRecord
		if value != nil {
			if err := json.Unmarshal(value, &rec); err != nil {
				c.log.Error("unreadable target state in the group's config topic; ignored", "topic", c.topic, "key", key, "error", err)
				return false
			}
		}
		if rec.State == "" || rec.State == TargetStarted {
			_, had := c.targets[unit]
			delete(c.targets, unit)
			return had
		}
		changed := c.targets[unit] != rec.State
		c.targets[unit] = rec.State
		return changed
	case strings.HasPrefix(key, keyStatus):
		unit := key[len(keyStatus):]
		if value == nil {
			delete(c.status, unit)
			return true
		}
		var rec unitStatus
		if err := json.Unmarshal(value, &rec); err != nil {
			return false
		}
		// A worker that lost the unit may publish after the new owner
		// did: the later generation wins.
		if old, ok := c.status[unit]; ok && old.Generation > rec.Generation {
			return false
		}
		c.status[unit] = rec
		return true
	}
	return false
}

// changed returns a channel closed at the next change of the state.
func (c *configTopic) changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.change
}

// caughtUp waits until the tail read everything written to the topic
// before caughtUp was called.
func (c *configTopic) caughtUp(ctx context.Context) error {
	c.mu.Lock()
	start := c.read
	c.mu.Unlock()
	// The CatchUp under way may have listed the end offsets before the
	// call: wait for the one after it.
	c.readNow()
	for {
		c.mu.Lock()
		done, ch := c.read >= start+2, c.readc
		c.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
			c.readNow()
		case <-ctx.Done():
			return fmt.Errorf("read the group's config topic %s: %w", c.topic, context.Cause(ctx))
		}
	}
}

// taskConfigs returns the task configs of a connector, this configuration's.
func (c *configTopic) taskConfigs(connector string) (taskConfigsRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.tasks[connector]
	return rec, ok
}

func (c *configTopic) targetState(connector string) TargetState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.targets[connector]; ok {
		return s
	}
	return TargetStarted
}

func (c *configTopic) unitStatus(unit string) (unitStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.status[unit]
	return s, ok
}

func (c *configTopic) allStatus() map[string]unitStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.status)
}

// write writes one record and waits until the cluster acknowledged it,
// or until ctx ends.
func (c *configTopic) write(ctx context.Context, key string, value any) error {
	var b []byte
	if value != nil {
		var err error
		if b, err = json.Marshal(value); err != nil {
			return err
		}
	}
	res := c.prod.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: b, Partition: 0})
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("write %s to the group's config topic %s: %w", key, c.topic, err)
	}
	c.readNow() // the units waiting for it see it at once
	return nil
}

func (c *configTopic) writeTaskConfigs(ctx context.Context, connector string, rec taskConfigsRecord) error {
	return c.write(ctx, keyTasks+c.hash+"/"+connector, rec)
}

func (c *configTopic) writeStatus(ctx context.Context, unit string, s unitStatus) error {
	return c.write(ctx, keyStatus+unit, s)
}

func (c *configTopic) writeTarget(ctx context.Context, connector string, s TargetState) error {
	return c.write(ctx, keyTarget+connector, targetRecord{State: s})
}
