package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/test/internal/harness"
)

// mm2goBinary is the mm2go binary, built once per test run by the harness.
func mm2goBinary(t *testing.T) string {
	t.Helper()
	bin, _ := harness.Binaries(t)
	return bin
}

// TestCrash_KilledWorkerResumesFromCommittedOffsets kills a worker process
// with SIGKILL mid-stream (no flush, no commit), starts a new one, and checks
// that every record is on the target, that the new worker resumed exactly
// after the last committed source offset, and that the only duplicates are
// the records copied after that commit.
func TestCrash_KilledWorkerResumesFromCommittedOffsets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mm2go binary")
	}
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, 4, 1, nil, "crash"); err != nil {
		t.Fatal(err)
	}
	const perPart = 50000
	want, all := makeRecords("crash", 4, perPart, "crash")
	// Records keep arriving while the first worker runs, in chunks spread
	// over the partitions, so that it is killed mid-stream.
	slices.SortStableFunc(all, func(a, b *kgo.Record) int { return cmpIndex(a) - cmpIndex(b) })
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produced := make(chan error, 1)
	go func() {
		for chunk := range slices.Chunk(all, 1000) {
			if err := prod.ProduceSync(ctx, chunk...).FirstErr(); err != nil {
				produced <- err
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		produced <- nil
	}()
	config := filepath.Join(t.TempDir(), "flows.yaml")
	yaml := fmt.Sprintf(`clusters:
  A:
    bootstrap_servers: [%q]
  B:
    bootstrap_servers: [%q]
settings:
  offset.flush.interval.ms: 200
flows:
  - source: A
    target: B
`, strings.Join(src.ListenAddrs(), ","), strings.Join(dst.ListenAddrs(), ","))
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	first := harness.StartWorker(t, config)
	waitFor(t, 60*time.Second, "a fifth of the records copied and committed", func() bool {
		return totalRecords(endOffsets(t, dst, "A.crash")) > 4*perPart/5 && len(committedOffsets(t, dst)) == 4
	})
	t.Logf("before kill: %d records on the target", totalRecords(endOffsets(t, dst, "A.crash")))
	first.Kill()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	copiedBeforeKill := endOffsets(t, dst, "A.crash")
	committed := committedOffsets(t, dst)
	t.Logf("killed after %d records; committed source offsets %v", totalRecords(copiedBeforeKill), committed)

	second := harness.StartWorker(t, config)
	second.WaitLog("task started", 30*time.Second)
	waitFor(t, 90*time.Second, "every record copied after the restart", func() bool {
		ends := endOffsets(t, dst, "A.crash")
		for p := range int32(4) {
			if ends[p]-(copiedBeforeKill[p]-(committed[p]+1)) < perPart {
				return false
			}
		}
		return true
	})
	if err := second.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.Log(), "worker stopped") {
		t.Errorf("worker did not log a graceful stop:\n%s", second.Log())
	}

	got := consumeAll(t, dst, "A.crash", int(totalRecords(endOffsets(t, dst, "A.crash"))), 60*time.Second)
	totalDups := 0
	for p := range int32(4) {
		gs := got[p]
		// The target holds source[0, k) from the first worker, then
		// source[c+1, N) from the second: it resumed right after the
		// committed offset c, so the duplicates are exactly source[c+1, k).
		k, c := copiedBeforeKill[p], committed[p]
		if c+1 > k {
			t.Fatalf("partition %d: committed offset %d is past the %d records copied", p, c, k)
		}
		var expect []*kgo.Record
		expect = append(expect, want[p][:k]...)
		expect = append(expect, want[p][c+1:]...)
		compareTopic(t, fmt.Sprintf("A.crash[%d]", p), map[int32][]*kgo.Record{p: expect}, map[int32][]*kgo.Record{p: gs})
		dups := len(gs) - perPart
		if dups != int(k-(c+1)) {
			t.Errorf("partition %d: %d duplicates, want %d (records copied after the last commit)", p, dups, k-(c+1))
		}
		totalDups += dups
	}
	t.Logf("duplicates after SIGKILL: %d of %d records (records copied after the last source-offset commit)", totalDups, 4*perPart)
}

// committedOffsets reads the MirrorSource offsets of topic "crash" that
// workers committed to the Connect offsets topic on the target.
func committedOffsets(t *testing.T, c *kfake.Cluster) map[int32]int64 {
	t.Helper()
	out := make(map[int32]int64)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(connect.OffsetsTopic("A")), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends := endOffsets(t, c, connect.OffsetsTopic("A"))
	want := totalRecords(ends)
	deadline := time.Now().Add(30 * time.Second)
	for n := int64(0); n < want && time.Now().Before(deadline); {
		pctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			n++
			ns, fields, err := connect.ParseOffsetKey(r.Key)
			if err != nil || ns != "MirrorSourceConnector" {
				return
			}
			var topic string
			var part int64 = -1
			for _, f := range fields {
				switch f.Name {
				case "topic":
					topic = f.Str
				case "partition":
					part = f.Int
				}
			}
			off, ok, err := connect.ParseOffsetValue(r.Value)
			if topic == "crash" && ok && err == nil {
				out[int32(part)] = off
			}
		})
	}
	return out
}

// cmpIndex is a record's index within its partition (from its timestamp),
// to interleave the partitions when producing.
func cmpIndex(r *kgo.Record) int { return int(r.Timestamp.UnixMilli() - 1_700_000_000_000) }
