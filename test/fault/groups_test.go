package fault

import (
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/offsets"
	"github.com/mm2go/mm2go/test/internal/harness"
)

// groupSettings turn on checkpoints and group offset sync every second.
var groupSettings = map[string]string{
	"emit.checkpoints.interval.seconds":   "1",
	"sync.group.offsets.enabled":          "true",
	"sync.group.offsets.interval.seconds": "1",
	"refresh.groups.interval.seconds":     "1",
}

// sourceGroup is a consumer group on A, without members, whose offsets a
// scenario commits now and then while workers copy (and die): the worker
// emits checkpoints for it and syncs it to B. Each commit points at a
// record whose copy read_committed consumers already see on B (sometimes
// at the aborted records or the marker just before it), so that its exact
// translation is known for good: the copy of the first committed source
// record at or after the committed offset.
type sourceGroup struct {
	e     *env
	name  string
	topic string
	rng   *rand.Rand
	at    map[int32]int64 // the offsets committed last; they never go back
}

func (e *env) sourceGroup(name, topic string, rng *rand.Rand) *sourceGroup {
	return &sourceGroup{e: e, name: name, topic: topic, rng: rng, at: make(map[int32]int64)}
}

// logs reads topic on A and A.<topic> on B as read_committed consumers see
// them.
func (g *sourceGroup) logs() (src, dst *harness.Log) {
	g.e.t.Helper()
	ctx, cancel := ctxFor(time.Minute)
	defer cancel()
	src, err := harness.ReadTopicCommitted(ctx, g.e.src.Opts(), g.topic)
	if err == nil {
		dst, err = harness.ReadTopicCommitted(ctx, g.e.dst.Opts(), "A."+g.topic)
	}
	if err != nil {
		g.e.t.Fatalf("read %s: %v", g.topic, err)
	}
	return src, dst
}

// translate returns where a group committed at offset u of partition p of
// the source resumes on the target: the target offset of the copy of the
// first committed source record at or after u; false if that record has
// no copy (yet).
func translate(src, dst *harness.Log, p int32, u int64) (int64, bool) {
	for _, r := range src.Parts[p] {
		if r.Offset < u {
			continue
		}
		for _, c := range dst.Parts[p] {
			if c.Key == r.Key {
				return c.Offset, true
			}
		}
		return 0, false
	}
	return 0, false
}

// commit commits new offsets of the group on A, forward only, at records
// already copied (see sourceGroup).
func (g *sourceGroup) commit() {
	g.e.t.Helper()
	src, dst := g.logs()
	var os kadm.Offsets
	for p, rs := range src.Parts {
		copied := len(dst.Parts[p])
		if copied == 0 || copied > len(rs) {
			continue
		}
		i := g.rng.IntN(copied) // a committed source record with a copy
		u := rs[i].Offset
		if i > 0 && g.rng.IntN(2) == 0 {
			u = rs[i-1].Offset + 1 // the aborted records or the marker before it, if any
		}
		if u <= g.at[p] {
			continue
		}
		g.at[p] = u
		os.Add(kadm.Offset{Topic: g.topic, Partition: p, At: u, LeaderEpoch: -1})
	}
	ctx, cancel := ctxFor(10 * time.Second)
	defer cancel()
	if err := g.e.srcAdm.CommitAllOffsets(ctx, g.name, os); err != nil {
		g.e.t.Fatalf("commit offsets of %s on A: %v", g.name, err)
	}
}

// check waits until the group's offsets on B are the exact translations of
// its offsets on A, then checks that every checkpoint the workers emitted
// for it translated exactly. It returns how many checkpoints it checked.
func (g *sourceGroup) check(within time.Duration) (checkpoints int) {
	e := g.e
	e.t.Helper()
	src, dst := g.logs()
	want := make(map[int32]int64)
	for p, u := range g.at {
		d, ok := translate(src, dst, p, u)
		if !ok {
			e.t.Fatalf("%s[%d] committed at %d: no copy of the record it resumes at", g.topic, p, u)
		}
		want[p] = d
	}
	synced := func() map[int32]int64 {
		ctx, cancel := ctxFor(10 * time.Second)
		defer cancel()
		got := make(map[int32]int64)
		os, err := e.dstAdm.FetchOffsets(ctx, g.name)
		if err == nil {
			os.Each(func(o kadm.OffsetResponse) {
				if o.Topic == "A."+g.topic && o.Err == nil {
					got[o.Partition] = o.At
				}
			})
		}
		return got
	}
	deadline := time.Now().Add(within)
	for got := synced(); !mapsEqual(got, want); got = synced() {
		if time.Now().After(deadline) {
			e.t.Errorf("group %s on B is at %v after %v; its offsets on A (%v) translate exactly to %v", g.name, got, within, g.at, want)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The checkpoints of the last offsets come with the sync or just after
	// it: read them until they are there, then check every one.
	type cp struct {
		at int64
		c  offsets.Checkpoint
	}
	read := func() (cps []cp, last map[int32]int64) {
		ctx, cancel := ctxFor(time.Minute)
		defer cancel()
		last = make(map[int32]int64)
		err := kread.ReadToEnd(ctx, e.dst.Opts(), "A.checkpoints.internal", nil, func(r *kgo.Record) error {
			c, err := offsets.DecodeCheckpoint(r.Key, r.Value)
			if err != nil || c.ConsumerGroupID != g.name || c.Topic != "A."+g.topic {
				return err
			}
			cps = append(cps, cp{r.Offset, c})
			last[c.Partition] = c.UpstreamOffset
			return nil
		})
		if err != nil {
			e.t.Fatalf("read the checkpoints on B: %v", err)
		}
		return cps, last
	}
	cps, last := read()
	deadline = time.Now().Add(within)
	for !mapsEqual(last, g.at) {
		if time.Now().After(deadline) {
			e.t.Errorf("the last checkpoints of %s on B are at %v; its offsets on A are %v", g.name, last, g.at)
			break
		}
		time.Sleep(200 * time.Millisecond)
		cps, last = read()
	}
	for _, x := range cps {
		c := x.c
		if d, ok := translate(src, dst, c.Partition, c.UpstreamOffset); !ok || d != c.DownstreamOffset {
			e.t.Errorf("checkpoint of %s at offset %d: %s[%d] %d -> %d, want %d (exact: %v)",
				g.name, x.at, g.topic, c.Partition, c.UpstreamOffset, c.DownstreamOffset, d, ok)
		}
	}
	if len(cps) == 0 {
		e.t.Errorf("no checkpoint of group %s on B", g.name)
	}
	return len(cps)
}
