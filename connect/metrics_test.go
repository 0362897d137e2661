package connect

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJMXValue_QuotesAsKafkaSanitizer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"MirrorSourceConnector", "MirrorSourceConnector"},
		{"cluster-a.topic_1 %x\t", "cluster-a.topic_1 %x\t"}, // [\w-%\. \t]* stays as it is
		{"A->B|MirrorSourceConnector-0|replication-consumer", `"A->B|MirrorSourceConnector-0|replication-consumer"`},
		{"A->B.MirrorSourceConnector", `"A->B.MirrorSourceConnector"`},
		{"group:1", `"group:1"`},
		{`a"b*c?d\e`, `"a\"b\*c\?d\\e"`}, // ObjectName.quote escapes
		{"line\nbreak", `"line\nbreak"`},
		{"", ""},
	} {
		if got := jmxValue(c.in); got != c.want {
			t.Errorf("jmxValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestReachability_FailingUntilAnswered(t *testing.T) {
	var r reachability
	a, b := r.cluster("A"), r.cluster("B")
	if r.cluster("A") != a {
		t.Fatal("cluster(A) returned a new state for a known cluster")
	}
	now := time.Now()
	if us, failing := r.failing(now, time.Second); len(us) != 0 || len(failing) != 0 {
		t.Fatalf("no failures yet: failing = %v %v", us, failing)
	}
	a.failed(errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	since := a.failingSince.Load()
	a.failed(errors.New("second failure")) // the streak keeps its start
	if a.failingSince.Load() != since {
		t.Fatal("a second failure moved the start of the streak")
	}
	b.answered()
	us, failing := r.failing(now.Add(500*time.Millisecond), time.Second)
	if len(us) != 0 || failing["A"] <= 0 || len(failing) != 1 {
		t.Fatalf("below the threshold: unreachable %v, failing %v; want none, A only", us, failing)
	}
	us, _ = r.failing(time.Unix(0, since).Add(2*time.Second), time.Second)
	if len(us) != 1 || us[0].Cluster != "A" || us[0].Error != "second failure" || us[0].Since.UnixNano() != since {
		t.Fatalf("past the threshold: unreachable = %+v, want A since the first failure with the last error", us)
	}
	st, msg := StateRunning, ""
	markUnreachable(&st, &msg, us)
	if st != StateUnreachable || !strings.Contains(msg, "cannot reach cluster A since") || !strings.Contains(msg, "second failure") {
		t.Fatalf("markUnreachable: state %s, error %q", st, msg)
	}
	failed := StateFailed
	markUnreachable(&failed, &msg, us)
	if failed != StateFailed {
		t.Fatalf("a FAILED task became %s", failed)
	}
	a.answered()
	if us, failing := r.failing(now.Add(time.Hour), time.Second); len(us) != 0 || len(failing) != 0 {
		t.Fatalf("after an answer: failing = %v %v, want none", us, failing)
	}
	var nilReach *reachability
	if us, _ := nilReach.failing(now, time.Second); us != nil {
		t.Fatal("a nil reachability reports failures")
	}
}
