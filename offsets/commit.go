package offsets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// CommitStatus says what CommitTranslated did with one partition.
type CommitStatus int

const (
	// Committed: the translated offset was written to the target group.
	Committed CommitStatus = iota
	// SkippedNotBehind: the target group's offset was already at or past
	// the translated one; offsets never move backwards.
	SkippedNotBehind
	// SkippedUntranslated: the partition has no translation (its Err).
	SkippedUntranslated
	// CommitFailed: the target refused this partition's offset (Err).
	CommitFailed
)

// String returns a short lower-case description.
func (s CommitStatus) String() string {
	switch s {
	case Committed:
		return "committed"
	case SkippedNotBehind:
		return "skipped: target offset at or past the translation"
	case SkippedUntranslated:
		return "skipped: no translation"
	case CommitFailed:
		return "failed"
	default:
		return fmt.Sprintf("CommitStatus(%d)", int(s))
	}
}

// PartitionCommit is the outcome of one partition of CommitTranslated.
type PartitionCommit struct {
	PartitionTranslation
	Status CommitStatus
	// Previous is the group's committed offset of the target partition
	// before the commit, -1 when it had none.
	Previous int64
	// CommitErr is the target's error for this partition when Status is
	// CommitFailed.
	CommitErr error
}

// CommitResult is what CommitTranslated did for one group.
type CommitResult struct {
	Group      string
	Partitions []PartitionCommit
}

// Count returns how many partitions have status s.
func (r CommitResult) Count(s CommitStatus) int {
	n := 0
	for _, p := range r.Partitions {
		if p.Status == s {
			n++
		}
	}
	return n
}

// GroupMember is a member of a consumer group, as the target describes it.
type GroupMember struct {
	MemberID, ClientID, ClientHost string
}

// String returns "member-id (client client-id from host)".
func (m GroupMember) String() string {
	return fmt.Sprintf("%s (client %s from %s)", m.MemberID, m.ClientID, m.ClientHost)
}

// ActiveGroupError is returned by CommitTranslated when the group is in use
// on the target: committing under live consumers would move their offsets
// behind their backs, so nothing is written.
type ActiveGroupError struct {
	Group string
	// State is the group's state on the target (Stable,
	// PreparingRebalance, CompletingRebalance; Assigning or Reconciling for
	// KIP-848 groups), or "" when the target rejected the commit itself.
	State string
	// Members are the group's members, when the target listed them.
	Members []GroupMember
	// Err is the target's rejection of the commit (UNKNOWN_MEMBER_ID,
	// ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, STALE_MEMBER_EPOCH) when
	// the group became active between the check and the commit; nil when
	// the check found it active.
	Err error
	// Cluster names the cluster where the group is active, when it is not
	// the target of a commit: a cut-over checks the source too.
	Cluster string
}

// Error names the group, its state and members, and what to do.
func (e *ActiveGroupError) Error() string {
	var b strings.Builder
	where := "the target"
	if e.Cluster != "" {
		where = e.Cluster
	}
	fmt.Fprintf(&b, "group %s is active on %s", e.Group, where)
	switch {
	case e.Err != nil:
		fmt.Fprintf(&b, " (it became active while committing; the target refused: %v)", e.Err)
	default:
		fmt.Fprintf(&b, " (state %s, %d member(s)", e.State, len(e.Members))
		for i, m := range e.Members {
			sep := ", "
			if i == 0 {
				sep = ": "
			}
			b.WriteString(sep + m.String())
		}
		b.WriteString(")")
	}
	if e.Cluster != "" {
		fmt.Fprintf(&b, "; stop its consumers on %s first", e.Cluster)
	} else {
		b.WriteString("; stop its consumers on the target before committing offsets")
	}
	return b.String()
}

// Unwrap returns the target's rejection, if any.
func (e *ActiveGroupError) Unwrap() error { return e.Err }

// activeStates are the group states in which a group has members: classic
// groups (Stable, PreparingRebalance, CompletingRebalance) and KIP-848
// consumer groups (Stable, Assigning, Reconciling).
var activeStates = map[string]bool{
	"Stable": true, "PreparingRebalance": true, "CompletingRebalance": true,
	"Assigning": true, "Reconciling": true,
}

// CommitTranslated commits translated offsets into group on the target
// cluster that target reaches, the way a failover wants it done:
//
//   - Only when the group has no active members there: a group with members
//     or in an active state is left alone and the result is an
//     *ActiveGroupError naming its state and members.
//   - Never backwards: a partition whose committed target offset is at or
//     past the translation is skipped (SkippedNotBehind).
//   - Partitions without a translation are skipped (SkippedUntranslated).
//   - Each commit keeps the source commit's metadata and carries no leader
//     epoch, so a consumer does not validate the offset against the source
//     cluster's epochs.
//
// The check and the commit are separate requests. The commit is an admin
// commit (generation -1, no member id), which Kafka accepts only while the
// group is empty: a consumer that joined in between makes the target refuse
// it (UNKNOWN_MEMBER_ID, or REBALANCE_IN_PROGRESS while the group completes a
// rebalance), and CommitTranslated returns an *ActiveGroupError. What Kafka
// cannot close is a consumer that joins, commits further and leaves between
// the offset fetch and the commit (the commit then moves it back to the
// translation), and consumers that commit without joining the group (manual
// assignment with commits), which no describe can see.
//
// The result lists every partition of ts with its status; the error is
// non-nil when the group is active, a request failed, or a partition failed
// (CommitFailed, joined errors).
func CommitTranslated(ctx context.Context, target *kgo.Client, group string, ts []PartitionTranslation) (CommitResult, error) {
	gc := CommitTranslatedGroups(ctx, target, map[string][]PartitionTranslation{group: ts})[group]
	return gc.CommitResult, gc.Err
}

// GroupCommit is one group's outcome of CommitTranslatedGroups: what
// CommitTranslated returns for it.
type GroupCommit struct {
	CommitResult
	Err error
}

// commitParallelism bounds the OffsetCommit requests CommitTranslatedGroups
// has in flight: enough to hide round trips with thousands of groups, few
// enough not to crowd the coordinators.
const commitParallelism = 8

// CommitTranslatedGroups is CommitTranslated for many groups at once, with
// the same checks and the same outcome per group, in a handful of requests
// instead of several per group: one DescribeGroups for all groups, one
// ListGroups and one ConsumerGroupDescribe when some group is not a classic
// one, one OffsetFetch for the inactive groups, then an OffsetCommit for
// each group that has an offset to move, commitParallelism at a time. A
// group offset sync of 2,000 groups is then a few round trips, not 6,000.
//
// The result has an entry for every group of byGroup. A request that fails
// fails the groups it was for, not the others.
func CommitTranslatedGroups(ctx context.Context, target *kgo.Client, byGroup map[string][]PartitionTranslation) map[string]GroupCommit {
	out := make(map[string]GroupCommit, len(byGroup))
	if len(byGroup) == 0 {
		return out
	}
	adm := kadm.NewClient(target)
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	checked := checkInactive(ctx, adm, groups)
	inactive := make([]string, 0, len(groups))
	for _, g := range groups {
		if err := checked[g]; err != nil {
			out[g] = GroupCommit{CommitResult{Group: g}, err}
			continue
		}
		inactive = append(inactive, g)
	}
	if len(inactive) == 0 {
		return out
	}
	fetched := adm.FetchManyOffsets(ctx, inactive...)
	var jobs []groupCommitJob
	for _, g := range inactive {
		f, ok := fetched[g]
		switch {
		case !ok:
			out[g] = GroupCommit{CommitResult{Group: g}, fmt.Errorf("commit offsets of group %s: fetch its offsets on the target: no answer for the group", g)}
			continue
		case f.Err != nil && !errors.Is(f.Err, kerr.GroupIDNotFound):
			out[g] = GroupCommit{CommitResult{Group: g}, fmt.Errorf("commit offsets of group %s: fetch its offsets on the target: %w", g, f.Err)}
			continue
		}
		res, commit := planCommit(g, f.Fetched, byGroup[g])
		if len(commit) == 0 {
			out[g] = GroupCommit{res, nil}
			continue
		}
		jobs = append(jobs, groupCommitJob{res: res, commit: commit})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(jobs), commitParallelism) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(jobs); i = int(next.Add(1) - 1) {
				jobs[i].done = commitGroup(ctx, adm, jobs[i].res, jobs[i].commit)
			}
		})
	}
	wg.Wait()
	for _, j := range jobs {
		out[j.res.Group] = j.done
	}
	return out
}

// groupCommitJob is one group's commit in CommitTranslatedGroups.
type groupCommitJob struct {
	res    CommitResult
	commit kadm.Offsets
	done   GroupCommit
}

// planCommit sorts the partitions of ts against the group's current offsets
// on the target: it returns every partition with its status (Committed for
// those to write) and the offsets to commit.
func planCommit(group string, current kadm.OffsetResponses, ts []PartitionTranslation) (CommitResult, kadm.Offsets) {
	res := CommitResult{Group: group, Partitions: make([]PartitionCommit, 0, len(ts))}
	var commit kadm.Offsets
	for _, t := range ts {
		pc := PartitionCommit{PartitionTranslation: t, Previous: -1}
		if cur, ok := current.Lookup(t.TargetTopic, t.Partition); ok && cur.Err == nil {
			pc.Previous = cur.At
		}
		switch {
		case t.Err != nil || t.TargetOffset < 0:
			pc.Status = SkippedUntranslated
		case pc.Previous >= t.TargetOffset:
			pc.Status = SkippedNotBehind
		default:
			pc.Status = Committed
			commit.Add(kadm.Offset{Topic: t.TargetTopic, Partition: t.Partition, At: t.TargetOffset, LeaderEpoch: -1, Metadata: t.Metadata})
		}
		res.Partitions = append(res.Partitions, pc)
	}
	return res, commit
}

// commitGroup writes commit, the Committed partitions of res, and returns
// res with the target's answer for each of them.
func commitGroup(ctx context.Context, adm *kadm.Client, res CommitResult, commit kadm.Offsets) GroupCommit {
	group := res.Group
	resps, err := adm.CommitOffsets(ctx, group, commit)
	if err != nil {
		for i := range res.Partitions {
			if p := &res.Partitions[i]; p.Status == Committed {
				p.Status, p.CommitErr = CommitFailed, err
			}
		}
		return GroupCommit{res, fmt.Errorf("commit offsets of group %s on the target: %w", group, err)}
	}
	var errs []error
	var rejected error
	for i := range res.Partitions {
		p := &res.Partitions[i]
		if p.Status != Committed {
			continue
		}
		// kadm answers every partition it was given, with an error for
		// those the response left out.
		r, _ := resps.Lookup(p.TargetTopic, p.Partition)
		switch {
		case r.Err == nil:
			continue
		case isMemberError(r.Err):
			p.Status, p.CommitErr = CommitFailed, r.Err
			rejected = r.Err
			continue
		default:
			p.Status, p.CommitErr = CommitFailed, r.Err
		}
		errs = append(errs, fmt.Errorf("commit %s[%d] at %d: %w", p.TargetTopic, p.Partition, p.TargetOffset, p.CommitErr))
	}
	if rejected != nil {
		return GroupCommit{res, &ActiveGroupError{Group: group, Err: rejected}}
	}
	if len(errs) > 0 {
		return GroupCommit{res, fmt.Errorf("commit offsets of group %s on the target: %w", group, errors.Join(errs...))}
	}
	return GroupCommit{res, nil}
}

// Where kfake, the fake cluster the tests run against, differs from Kafka on
// what CommitTranslated relies on (kfake as pinned in go.mod):
//
//   - DescribeGroups of a KIP-848 consumer group: kfake answers with the
//     group's state (Stable) and no members; Kafka 4 answers Dead with
//     GROUP_ID_NOT_FOUND, since the group is not a classic one.
//     checkInactive treats an active state without members as active
//     (kfake), and otherwise asks ListGroups and ConsumerGroupDescribe
//     (Kafka); the tests replay Kafka's answer to cover that path.
//   - An admin commit (generation -1, no member id) to a classic group with
//     members: kfake answers UNKNOWN_MEMBER_ID in every state; Kafka's
//     coordinator ("when the group is non-empty, only members can commit
//     offsets") answers UNKNOWN_MEMBER_ID, or REBALANCE_IN_PROGRESS while
//     the group completes a rebalance, depending on the version. Both mean
//     the group became active (isMemberError).
//   - The same commit to a KIP-848 group with members: UNKNOWN_MEMBER_ID in
//     both. To an empty group: accepted by both.
//
// Neither can make the describe and the commit one atomic step; the broker's
// refusal of admin commits to non-empty groups is what closes the gap.

// isMemberError reports whether err is the target refusing an admin commit
// because the group has members.
func isMemberError(err error) bool {
	return errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.StaleMemberEpoch) ||
		errors.Is(err, kerr.FencedInstanceID)
}

// checkInactive returns, for each group of groups that has members or is in
// an active state on the cluster of adm, an *ActiveGroupError, and for each
// group it could not check, the error that stopped it. Groups missing from
// the result are inactive: they may be committed to.
//
// Classic groups are described with DescribeGroups. Kafka 4 answers that
// request for a KIP-848 consumer group as if the group did not exist (Dead),
// so for the groups the classic view does not show, one ListGroups tells
// which exist as groups of type "consumer" (brokers before 3.8 report no
// type and have no such groups), and one ConsumerGroupDescribe lists their
// members.
func checkInactive(ctx context.Context, adm *kadm.Client, groups []string) map[string]error {
	out := make(map[string]error)
	described, err := adm.DescribeGroups(ctx, groups...)
	var unseen []string // not classic groups on the target
	for _, g := range groups {
		d, ok := described[g]
		switch {
		case !ok:
			out[g] = fmt.Errorf("describe group %s on the target: %w", g, cmp.Or(err, errNoAnswer))
		case d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound):
			out[g] = fmt.Errorf("describe group %s on the target: %w", g, d.Err)
		case d.Err == nil && (len(d.Members) > 0 || activeStates[d.State]):
			e := &ActiveGroupError{Group: g, State: d.State}
			for _, m := range d.Members {
				e.Members = append(e.Members, GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost})
			}
			out[g] = e
		case d.Err == nil && d.State != "Dead" && d.State != "":
			// an empty classic group
		default:
			unseen = append(unseen, g)
		}
	}
	if len(unseen) == 0 {
		return out
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		for _, g := range unseen {
			out[g] = fmt.Errorf("list groups on the target: %w", err)
		}
		return out
	}
	var consumer []string // KIP-848 groups
	for _, g := range unseen {
		if l, ok := listed[g]; ok && l.GroupType == "consumer" {
			consumer = append(consumer, g)
		}
	}
	if len(consumer) == 0 {
		return out
	}
	cgs, err := adm.DescribeConsumerGroups(ctx, consumer...)
	for _, g := range consumer {
		cg, ok := cgs[g]
		switch {
		case !ok:
			out[g] = fmt.Errorf("describe consumer group %s on the target: %w", g, cmp.Or(err, errNoAnswer))
		case errors.Is(cg.Err, kerr.GroupIDNotFound):
		case cg.Err != nil:
			out[g] = fmt.Errorf("describe consumer group %s on the target: %w", g, cg.Err)
		case len(cg.Members) > 0 || activeStates[cg.State]:
			e := &ActiveGroupError{Group: g, State: cg.State}
			for _, m := range cg.Members {
				e.Members = append(e.Members, GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost})
			}
			out[g] = e
		}
	}
	return out
}

// errNoAnswer stands for a request that returned neither a result for a
// group nor an error.
var errNoAnswer = errors.New("no answer for the group")
