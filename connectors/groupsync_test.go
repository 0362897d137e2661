package connectors

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/offsets"
)

// lockedBuffer is a log sink safe for the kgo goroutines that may log.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns what was logged since the last take.
func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// TestGroupSyncer_LogsOutcomes syncs groups on a fake target and checks what
// is written and what is logged: Info when a group's outcome changes, Debug
// when it repeats.
func TestGroupSyncer_LogsOutcomes(t *testing.T) {
	c, cl := cpCluster(t) // the target here: topics t and excluded
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var buf lockedBuffer
	s := newGroupSyncer(cl, hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &buf}))
	pt := func(group string, p int32, to int64, err error) offsets.PartitionTranslation {
		return offsets.PartitionTranslation{Group: group, SourceTopic: "t", TargetTopic: "t", Partition: p,
			SourceOffset: to + 3, TargetOffset: to, Exact: err == nil, Err: err}
	}
	expect := func(step string, wantInfo, wantDebug []string) {
		t.Helper()
		logged := buf.take()
		for _, w := range wantInfo {
			if !strings.Contains(logged, "[INFO]  "+w) {
				t.Errorf("%s: no Info line %q in:\n%s", step, w, logged)
			}
		}
		for _, w := range wantDebug {
			if !strings.Contains(logged, "[DEBUG] "+w) {
				t.Errorf("%s: no Debug line %q in:\n%s", step, w, logged)
			}
		}
	}

	untranslated := []offsets.PartitionTranslation{pt("g", 0, -1, &offsets.TranslateError{Group: "g", Topic: "t", Err: offsets.ErrNoTranslation})}
	syncOne(ctx, s, "g", untranslated)
	expect("nothing translated", []string{"group offsets not synced: no partition translated yet: group=g partitions=1 reason="}, nil)
	syncOne(ctx, s, "g", untranslated)
	expect("nothing translated again", nil, []string{"group offsets not synced: no partition translated yet"})

	syncOne(ctx, s, "g", []offsets.PartitionTranslation{pt("g", 0, 40, nil), pt("g", 1, 7, nil), untranslated[0]})
	expect("written", []string{`synced group offsets to the target: group=g committed=2 offsets="t[0]=40 (was none), t[1]=7 (was none)" skipped_not_behind=0 skipped_untranslated=1`}, nil)
	syncOne(ctx, s, "g", []offsets.PartitionTranslation{pt("g", 0, 45, nil), pt("g", 1, 7, nil)})
	expect("moved on", []string{`synced group offsets to the target: group=g committed=1 offsets="t[0]=45 (was 40)" skipped_not_behind=1`},
		[]string{`group offsets already at or past the translation: group=g offsets="t[1] at 7, translation 7"`})
	syncOne(ctx, s, "g", []offsets.PartitionTranslation{pt("g", 0, 44, nil)})
	expect("behind the target", []string{`group offsets not synced: the target group is at or past every translated offset: group=g skipped_not_behind=1 skipped_untranslated=0 offsets="t[0] at 45, translation 44"`}, nil)
	syncOne(ctx, s, "g", []offsets.PartitionTranslation{pt("g", 0, 44, nil)})
	expect("behind again", nil, []string{"group offsets not synced: the target group is at or past every translated offset"})
	got, err := kadm.NewClient(cl).FetchOffsets(ctx, "g")
	if o, _ := got.Lookup("t", 0); err != nil || o.At != 45 {
		t.Fatalf("target offset of g t[0] = %d, %v; want 45, never rewound", o.At, err)
	}

	// An active group: skipped, said once.
	m, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("busy"), kgo.ConsumeTopics("t"),
		kgo.DisableAutoCommit(), kgo.ClientID("busy-member"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if d, err := adm.DescribeGroups(ctx, "busy"); err == nil && d["busy"].State == "Stable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member did not join")
		}
		time.Sleep(50 * time.Millisecond)
	}
	syncOne(ctx, s, "busy", []offsets.PartitionTranslation{pt("busy", 0, 5, nil)})
	expect("active", []string{"group offsets not synced: the group is active on the target: group=busy reason=\"group busy is active on the target (state Stable, 1 member(s): "}, nil)
	syncOne(ctx, s, "busy", []offsets.PartitionTranslation{pt("busy", 0, 5, nil)})
	expect("active again", nil, []string{"group offsets not synced: the group is active on the target"})
	if got, _ := adm.FetchOffsets(ctx, "busy"); len(got) != 0 {
		t.Fatalf("active group got offsets %v", got)
	}

	// Failures are warnings, every time.
	syncOne(ctx, s, "h", []offsets.PartitionTranslation{pt("h", 0, 5, nil), {Group: "h", TargetTopic: "gone", TargetOffset: 3}})
	expect("partial failure", []string{`synced group offsets to the target: group=h committed=1`}, nil)
	c.ControlKey(int16(kmsg.DescribeGroups), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.DescribeGroupsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp, nil, true
	})
	for range 2 {
		syncOne(ctx, s, "g", []offsets.PartitionTranslation{pt("g", 0, 50, nil)})
		logged := buf.take()
		if !strings.Contains(logged, "[WARN]  group offset sync failed; will retry: group=g error=") ||
			!strings.Contains(logged, "GROUP_AUTHORIZATION_FAILED") {
			t.Fatalf("describe refused: log\n%s", logged)
		}
	}
}

// syncOne syncs one group, as a cycle with only that group does.
func syncOne(ctx context.Context, s *groupSyncer, group string, ts []offsets.PartitionTranslation) {
	s.syncAll(ctx, []string{group}, map[string][]offsets.PartitionTranslation{group: ts})
}
