package fault

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// TestFault_RefusedRecord makes the target refuse one record: the remote
// topic's max.message.bytes is lowered below the size of one record in
// partition 1. That partition must stop at the refused record and retry it
// (order kept: nothing after it is copied before it), the other partitions
// must go on; once the limit is raised, the partition resumes in order.
//
// The refused record is 900 KiB of random bytes (under the source's and the
// producer's 1 MB limits), the remote topic's limit 512 KiB. The other
// records are about 100 bytes, produced at 1,000 per second: a batch of them
// stays far below the limit (it would take a 10 s backlog to fill one).
//
// Bound: nothing missing or out of order; 0 duplicates (the worker is
// never restarted).
func TestFault_RefusedRecord(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const parts = 3
	// The target's operator owns max.message.bytes there: topic config
	// sync must not remove an override the source does not have.
	e := newEnv(t, envOpts{settings: map[string]string{"config.properties.target.keep": "max.message.bytes"}})
	e.createTopic("big", parts)
	w := e.worker()
	e.waitTarget("big", "the remote topic created", time.Minute, func(ends map[int32]int64) bool { return len(ends) == parts })
	setMaxMessageBytes(t, e.dstAdm, "A.big", 512<<10)

	perPart := int64(pick(500, 5000))
	produce := func(tag string) int64 {
		p := harness.StartProducer(e.src.Client(kgo.RecordPartitioner(kgo.ManualPartitioner())),
			harness.ProducerConfig{Topic: "big", Partitions: parts, Tag: tag, Rate: 1000, Limit: perPart * parts})
		<-p.Done()
		return e.stopProducer(p)
	}
	produced := produce("before")
	big := make([]byte, 900<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	if err := e.src.Client().ProduceSync(ctx, &kgo.Record{Topic: "big", Partition: 1, Key: []byte("big-1-0"), Value: big}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produced++
	produced += produce("after")

	// Partitions 0 and 2 are copied to their end; partition 1 stops right
	// before the refused record.
	srcEnds := e.sourceEnds("big")
	others := e.waitTarget("big", "partitions 0 and 2 copied while partition 1 is refused", time.Minute, func(ends map[int32]int64) bool {
		return ends[0] == srcEnds[0] && ends[2] == srcEnds[2]
	})
	if others {
		if got := e.targetEnds("big")[1]; got != perPart {
			t.Errorf("partition 1 holds %d records on the target, want %d: it must stop right before the refused record (offset %d)", got, perPart, perPart)
		}
	}
	if !w.Running() {
		t.Errorf("the worker exited after the refusal:\n%s", w.Log())
	}

	setMaxMessageBytes(t, e.dstAdm, "A.big", 1<<20)
	e.waitCommitted("big", 2*time.Minute)
	if w.Running() {
		e.stopWorker(w)
	}
	r := e.check("big", nil)
	checkNoDuplicates(t, r, "the worker was not restarted")
	result(t, r, produced, "0 (one record refused until the limit was raised)")
}

func setMaxMessageBytes(t *testing.T, adm *kadm.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	v := strconv.Itoa(n)
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = resps.On(topic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("set max.message.bytes of %s to %d: %v", topic, n, err)
	}
}
