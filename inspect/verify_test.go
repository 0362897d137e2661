package inspect_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/inspect"
	"github.com/mm2go/mm2go/offsets"
)

// alterProduced makes c change, once, the first produced record whose value
// is from into to (same length) before storing it, as a target that
// corrupts a record would. It works on uncompressed batches only.
func alterProduced(c interface {
	ControlKey(int16, func(kmsg.Request) (kmsg.Response, error, bool))
	KeepControl()
	DropControl()
}, from, to string, done *atomic.Bool) {
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				batch := rp.Records
				if i := bytes.Index(batch, []byte(from)); i >= 0 && len(batch) > 21 {
					copy(batch[i:], to)
					binary.BigEndian.PutUint32(batch[17:21], crc32.Checksum(batch[21:], castagnoli))
					done.Store(true)
					c.DropControl()
				}
			}
		}
		return nil, nil, false
	})
}

// TestVerify_FindsMissingAlteredAndExtraRecords copies three partitions
// with a real worker while the target alters one record on its way in; then
// deletes the first 4 records of another target partition, and writes a
// record of its own to the third between two copies. Verify finds exactly
// these three, with their offsets, and nothing else.
func TestVerify_FindsMissingAlteredAndExtraRecords(t *testing.T) {
	e := newEnv(t, "", "    properties:\n      producer.compression.type: none\n")
	e.createTopic(t, "orders", 3)
	e.createTopic(t, "events", 1)
	cl := e.client(t, e.a, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		produce(t, cl, "orders", p, 20, time.Now(), fmt.Sprintf("orders-p%d", p))
	}
	produce(t, cl, "events", 0, 30, time.Now(), "events")
	var altered atomic.Bool
	alterProduced(e.b, "orders-p1-v7", "ALTERED-v7!!", &altered)

	w := e.startWorker(t)
	in := e.inspector(t)
	e.waitCaughtUp(t, in)
	if !altered.Load() {
		t.Fatal("the record to alter was never produced uncompressed")
	}
	ctx := context.Background()

	// Clean before the target loses anything: only the altered record.
	rep, err := in.Verify(ctx, inspect.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clean || rep.Totals.Compared != 90 || rep.Totals.Matched != 89 || rep.Totals.Differing != 1 || rep.Totals.Missing != 0 || rep.Totals.Extra != 0 {
		t.Fatalf("verify after the copy: %+v", rep.Totals)
	}

	// Records 0..3 of a.orders[2] are deleted on the target.
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "a.orders", Partition: 2, At: 4})
	if resp, err := kadm.NewClient(e.client(t, e.b)).DeleteRecords(ctx, del); err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v %v", err, resp.Error())
	}
	// A record of the target's own lands between two copies of orders[0].
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	tcl := e.client(t, e.b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if off := produce(t, tcl, "a.orders", 0, 1, time.Now(), "intruder"); off[0] != 20 {
		t.Fatalf("intruder at %d", off[0])
	}
	produce(t, cl, "orders", 0, 5, time.Now(), "orders-p0-late")
	e.startWorker(t)
	e.waitCaughtUp(t, in)

	var progress inspect.VerifyProgress
	rep, err = in.Verify(ctx, inspect.VerifyOptions{Progress: &progress, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clean || rep.Totals.Compared != 95 || rep.Totals.Matched != 90 || rep.Totals.Differing != 1 ||
		rep.Totals.Missing != 4 || rep.Totals.Extra != 1 || rep.Totals.Duplicates != 0 {
		t.Errorf("totals: %+v", rep.Totals)
	}
	if progress.Done.Load() != progress.Total.Load() || progress.Total.Load() != 95 || progress.PartitionsDone.Load() != 4 {
		t.Errorf("progress: %d of %d, %d partitions", progress.Done.Load(), progress.Total.Load(), progress.PartitionsDone.Load())
	}
	want := map[string][]inspect.Difference{
		"events[0]": {},
		"orders[0]": {{Kind: inspect.DiffExtra, SourceOffset: -1, TargetOffset: 20, Detail: "not a copy of any source record at or after offset 20"}},
		"orders[1]": {{Kind: inspect.DiffDiffers, SourceOffset: 7, TargetOffset: 7, Detail: "value differs"}},
		"orders[2]": {
			{Kind: inspect.DiffMissing, SourceOffset: 0, TargetOffset: 0, Detail: "deleted from the target (its log starts at 4)"},
			{Kind: inspect.DiffMissing, SourceOffset: 1, TargetOffset: 1, Detail: "deleted from the target (its log starts at 4)"},
			{Kind: inspect.DiffMissing, SourceOffset: 2, TargetOffset: 2, Detail: "deleted from the target (its log starts at 4)"},
			{Kind: inspect.DiffMissing, SourceOffset: 3, TargetOffset: 3, Detail: "deleted from the target (its log starts at 4)"},
		},
	}
	if len(rep.Partitions) != 4 {
		t.Fatalf("partitions: %+v", rep.Partitions)
	}
	for _, p := range rep.Partitions {
		name := fmt.Sprintf("%s[%d]", p.Topic, p.Partition)
		if fmt.Sprint(p.Differences) != fmt.Sprint(want[name]) || p.Error != "" {
			t.Errorf("%s: differences %+v, error %q\nwant %+v", name, p.Differences, p.Error, want[name])
		}
	}
	if p := rep.Partitions[1]; p.CheckedFrom != 0 || p.CheckedTo != 25 || p.Matched != 25 || p.TargetEnd != 26 {
		t.Errorf("orders[0]: %+v", p)
	}
	if len(rep.NotChecked) != 0 {
		t.Errorf("not checked: %v", rep.NotChecked)
	}
}

// TestVerify_DuplicatesAfterACrash: a task copied 0..14 but confirmed only
// 0..9 before it died; the next copied 10..14 again. The first copies of
// 10..14 are duplicates, not differences. A record the index ties to a
// source offset but whose content differs is extra.
func TestVerify_DuplicatesAfterACrash(t *testing.T) {
	e := newEnv(t, "", "")
	e.createTopic(t, "orders", 2)
	ctx := context.Background()
	cl := e.client(t, e.a, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, cl, "orders", 0, 15, time.Now().Truncate(time.Millisecond), "o")
	produce(t, cl, "orders", 1, 3, time.Now().Truncate(time.Millisecond), "q")
	tcl := e.client(t, e.b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, topic := range []string{"a.orders", offsets.IndexTopic("a")} {
		if _, err := kadm.NewClient(tcl).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	// Copy by hand: read the source, write 0..14, then 10..14 again.
	recs := readAll(t, cl, "orders", 0, 15)
	var copies []*kgo.Record
	for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 10, 11, 12, 13, 14} {
		r := recs[i]
		copies = append(copies, &kgo.Record{Topic: "a.orders", Partition: 0, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
	}
	// Partition 1: the copy of record 1 is changed where the index says
	// it is an earlier copy of 1 (confirmed), and copied again after.
	q := readAll(t, cl, "orders", 1, 3)
	for i, r := range []*kgo.Record{q[0], q[1], q[2], q[1], q[2]} {
		v := r.Value
		if i == 1 {
			v = []byte("changed")
		}
		copies = append(copies, &kgo.Record{Topic: "a.orders", Partition: 1, Key: r.Key, Value: v, Headers: r.Headers, Timestamp: r.Timestamp})
	}
	if err := tcl.ProduceSync(ctx, copies...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var entries []*kgo.Record
	for _, ie := range []offsets.IndexEntry{
		{Topic: "orders", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 9},
		{Topic: "orders", Partition: 0, Upstream: 10, Downstream: 15, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 14},
		{Topic: "orders", Partition: 1, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 2},
		{Topic: "orders", Partition: 1, Upstream: 1, Downstream: 3, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 2},
	} {
		k, _ := ie.Key()
		entries = append(entries, &kgo.Record{Topic: offsets.IndexTopic("a"), Partition: 0, Key: k, Value: ie.Value()})
	}
	if err := tcl.ProduceSync(ctx, entries...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rep, err := e.inspector(t).Verify(ctx, inspect.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := rep.Partitions[0], rep.Partitions[1]
	if p0.Compared != 15 || p0.Matched != 15 || p0.Duplicates != 5 || p0.Missing+p0.Extra+p0.Differing != 0 || len(p0.Differences) != 0 {
		t.Errorf("partition 0: %+v", p0)
	}
	want := "[{extra -1 1 an earlier copy of source offset 1 by the offset index, but it differs from that record}]"
	if p1.Compared != 3 || p1.Matched != 3 || p1.Duplicates != 1 || p1.Extra != 1 || fmt.Sprint(p1.Differences) != want {
		t.Errorf("partition 1: %+v", p1)
	}
	if rep.Clean {
		t.Error("clean with an extra record")
	}
}

// readAll reads n records of topic[partition] from its start.
func readAll(t *testing.T, cl *kgo.Client, topic string, partition int32, n int) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(append(cl.Opts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s[%d]: %d of %d records", topic, partition, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}
