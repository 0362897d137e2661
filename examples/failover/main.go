// Command failover moves a consumer group from a source cluster to its copy
// on a target cluster, the way a Go service would at cut-over or in a
// disaster, with the public API only:
//
//  1. ask the source whether it answers (offsets.ProbeCluster, bounded);
//  2. translate the group's offsets exactly with mm2go's offset index
//     (offsets.TranslateGroup): its committed offsets on the source, or,
//     when the source is down, its last checkpoints on the target
//     (TranslateRequest.FromTarget), which need nothing from the source;
//  3. commit them into the group on the target, which is refused while the
//     group has members there and never moves an offset back
//     (offsets.CommitTranslated);
//  4. start consuming the copies on the target as that group: the first
//     record read is the first one the group had not read on the source
//     (with the source down: since its last checkpoint).
//
// It needs no running worker, only the target cluster (and the source, if
// it is up) and the index and checkpoints topics a worker wrote.
//
//	go run ./examples/failover --source localhost:9092 --target localhost:9093 \
//	    --source-alias A --group billing
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/offsets"
)

func main() {
	source := flag.String("source", "localhost:9092", "source cluster bootstrap servers, comma-separated")
	target := flag.String("target", "localhost:9093", "target cluster bootstrap servers, comma-separated")
	alias := flag.String("source-alias", "A", "the source cluster's alias in the flow (prefix of remote topic names)")
	group := flag.String("group", "", "consumer group to move")
	flag.Parse()
	if *group == "" {
		fmt.Fprintln(os.Stderr, "failover: --group is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*source, ","), strings.Split(*target, ","), *alias, *group); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sourceBrokers, targetBrokers []string, alias, group string) error {
	src, err := kgo.NewClient(kgo.SeedBrokers(sourceBrokers...))
	if err != nil {
		return err
	}
	defer src.Close()
	tgt, err := kgo.NewClient(kgo.SeedBrokers(targetBrokers...))
	if err != nil {
		return err
	}
	defer tgt.Close()

	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req := offsets.TranslateRequest{
		Source: src, Target: tgt, SourceAlias: alias, Group: group,
		RemoteTopic: policy.Default{}.FormatRemoteTopic, // the flow's replication policy
	}
	if err := offsets.ProbeCluster(tctx, src, 5*time.Second); err != nil {
		// Disaster recovery: the group's last checkpoints on the target,
		// translated again with the exact index.
		fmt.Printf("source down (%v): translating from the checkpoints on the target\n", err)
		req.FromTarget = true
	}
	ts, err := offsets.TranslateGroup(tctx, req)
	if errors.Is(err, offsets.ErrNoCheckpoints) {
		return fmt.Errorf("%w: the checkpoint connector never saw group %s commit, so there is nothing to resume it from", err, group)
	}
	if err != nil {
		return err
	}
	topics := make(map[string]bool)
	for _, t := range ts {
		switch {
		case t.Err != nil:
			fmt.Printf("%s[%d]: source offset %d not translated: %v\n", t.SourceTopic, t.Partition, t.SourceOffset, t.Err)
		case t.Basis == offsets.BasisCheckpoints:
			fmt.Printf("%s[%d] at %d (checkpoint of %s) -> %s[%d] at %d (exact %v)\n",
				t.SourceTopic, t.Partition, t.SourceOffset, t.CheckpointTime.Format(time.RFC3339), t.TargetTopic, t.Partition, t.TargetOffset, t.Exact)
			topics[t.TargetTopic] = true
		default:
			fmt.Printf("%s[%d] at %d -> %s[%d] at %d (exact %v, %d records left to replicate)\n",
				t.SourceTopic, t.Partition, t.SourceOffset, t.TargetTopic, t.Partition, t.TargetOffset, t.Exact, t.Lag)
			topics[t.TargetTopic] = true
		}
	}

	res, err := offsets.CommitTranslated(tctx, tgt, group, ts)
	var active *offsets.ActiveGroupError
	if errors.As(err, &active) {
		return fmt.Errorf("%w (members: %v)", err, active.Members)
	}
	if err != nil {
		return err
	}
	fmt.Printf("committed %d partition(s) on the target; %d already there or further\n",
		res.Count(offsets.Committed), res.Count(offsets.SkippedNotBehind))

	// Consume on the target as the group: it starts from what was just
	// committed. Partitions the group never committed on the source start
	// at the beginning, as they would have there.
	var consume []string
	for t := range topics {
		consume = append(consume, t)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(targetBrokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(consume...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "fetch %s[%d]: %v\n", t, p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			fmt.Printf("%s[%d]@%d key=%q\n", r.Topic, r.Partition, r.Offset, r.Key)
		})
	}
	return nil
}
