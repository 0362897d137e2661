package connectors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/offsets"
)

// groupSyncer is the group offset sync of a MirrorCheckpointTask
// (sync.group.offsets.enabled): it commits a group's translated offsets into
// the consumer group of the same name on the target, so that its consumers
// resume there from where they stopped on the source. It goes further than
// MM2 (spec §6.8, known limitation 4) on safety:
//
//   - It describes the group on the target first and leaves a group with
//     members or in an active state alone, where MM2 relies on the broker
//     rejecting its commit. The commit itself is an admin commit
//     (generation -1, no member id), which Kafka refuses once the group has
//     members, so a consumer that joins between the check and the commit
//     is not overwritten either (offsets.CommitTranslated).
//   - It never moves a partition's offset backwards, for every group, where
//     MM2 checks this only for groups it found empty one interval before.
//   - It commits the checkpoint task's translations: exact, or for a group
//     ahead of the index the safe lower bound, which never skips a record
//     and is raised to the exact offset at a later cycle.
//   - It logs per group what it wrote or skipped and why: at Info whenever
//     the outcome changes (offsets written, a group becoming active or
//     idle), at Debug when it repeats, so a steady state does not flood the
//     log.
//
// A groupSyncer is used from the task's loop goroutine only.
type groupSyncer struct {
	tgt  *kgo.Client
	log  hclog.Logger
	last map[string]string // group -> the outcome last logged at Info
}

func newGroupSyncer(tgt *kgo.Client, log hclog.Logger) *groupSyncer {
	return &groupSyncer{tgt: tgt, log: log, last: make(map[string]string)}
}

// syncAll commits the translations of each of groups (byGroup) into the
// group of the same name on the target, all groups in a few requests
// (offsets.CommitTranslatedGroups), and logs what happened to each.
func (s *groupSyncer) syncAll(ctx context.Context, groups []string, byGroup map[string][]offsets.PartitionTranslation) {
	commit := make(map[string][]offsets.PartitionTranslation, len(groups))
	for _, g := range groups {
		ts := byGroup[g]
		if translated(ts) == 0 {
			s.report(g, "nothing translated yet", "group offsets not synced: no partition translated yet",
				"partitions", len(ts), "reason", firstErr(ts))
			continue
		}
		commit[g] = ts
	}
	done := offsets.CommitTranslatedGroups(ctx, s.tgt, commit)
	for _, g := range groups {
		if gc, ok := done[g]; ok {
			s.outcome(ctx, g, gc.CommitResult, gc.Err)
		}
	}
}

// translated counts the partitions of ts that have a translation.
func translated(ts []offsets.PartitionTranslation) int {
	n := 0
	for _, t := range ts {
		if t.Err == nil {
			n++
		}
	}
	return n
}

// outcome logs what committing group's translations did.
func (s *groupSyncer) outcome(ctx context.Context, group string, res offsets.CommitResult, err error) {
	var active *offsets.ActiveGroupError
	switch {
	case errors.As(err, &active):
		// Not a fault: the group is in use on the target. Say so once.
		s.report(group, "active "+active.State+" "+fmt.Sprint(len(active.Members)),
			"group offsets not synced: the group is active on the target", "reason", active.Error())
		return
	case err != nil && len(res.Partitions) == 0:
		if ctx.Err() == nil {
			s.log.Warn("group offset sync failed; will retry", "group", group, "error", err)
			delete(s.last, group)
		}
		return
	}
	written := res.Count(offsets.Committed)
	notBehind := res.Count(offsets.SkippedNotBehind)
	untranslated := res.Count(offsets.SkippedUntranslated)
	if err != nil {
		s.log.Warn("group offset sync failed for some partitions; will retry", "group", group,
			"committed", written, "error", err)
		delete(s.last, group)
	}
	if written > 0 {
		s.log.Info("synced group offsets to the target", "group", group, "committed", written,
			"offsets", describeCommits(res, offsets.Committed), "skipped_not_behind", notBehind,
			"skipped_untranslated", untranslated)
		s.last[group] = "written"
		if notBehind > 0 {
			s.log.Debug("group offsets already at or past the translation", "group", group,
				"offsets", describeCommits(res, offsets.SkippedNotBehind))
		}
		return
	}
	if err == nil {
		s.report(group, fmt.Sprintf("up to date %d %d", notBehind, untranslated),
			"group offsets not synced: the target group is at or past every translated offset", "skipped_not_behind", notBehind,
			"skipped_untranslated", untranslated, "offsets", describeCommits(res, offsets.SkippedNotBehind))
	}
}

// report logs msg at Info when the group's outcome changed since the last
// Info line, else at Debug.
func (s *groupSyncer) report(group, outcome, msg string, kv ...any) {
	args := append([]any{"group", group}, kv...)
	if s.last[group] == outcome {
		s.log.Debug(msg, args...)
		return
	}
	s.last[group] = outcome
	s.log.Info(msg, args...)
}

// describeCommits lists the partitions of res with status st: for written
// ones "topic[p]=offset (was previous)", for skipped ones the target's
// offset and the translation.
func describeCommits(res offsets.CommitResult, st offsets.CommitStatus) string {
	var b strings.Builder
	for _, p := range res.Partitions {
		if p.Status != st {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		switch {
		case st == offsets.SkippedNotBehind:
			fmt.Fprintf(&b, "%s[%d] at %d, translation %d", p.TargetTopic, p.Partition, p.Previous, p.TargetOffset)
		case p.Previous >= 0:
			fmt.Fprintf(&b, "%s[%d]=%d (was %d)", p.TargetTopic, p.Partition, p.TargetOffset, p.Previous)
		default:
			fmt.Fprintf(&b, "%s[%d]=%d (was none)", p.TargetTopic, p.Partition, p.TargetOffset)
		}
	}
	return b.String()
}

// firstErr returns the first translation error of ts, for the log.
func firstErr(ts []offsets.PartitionTranslation) string {
	for _, t := range ts {
		if t.Err != nil {
			return t.Err.Error()
		}
	}
	return "the group has no committed offsets on replicated topics"
}
