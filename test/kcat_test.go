package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mm2go/mm2go/connect"
)

// kcatPath returns kcat's path. CI installs kcat (see .ci/run), so there a
// missing kcat fails the test; elsewhere the test is skipped.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat is not installed; .ci/run installs it with apt-get")
		}
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
	return p
}

func runKcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// TestInterop_Kcat writes records with librdkafka's kcat on the source and
// reads the copies with kcat on the target: an independent Kafka client on
// both ends sees the same keys, values and headers, partition by partition.
func TestInterop_Kcat(t *testing.T) {
	kcatPath(t)
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 2, 1, nil, "kc"); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	const n = 200
	for i := range n {
		fmt.Fprintf(&in, "key-%d:value %d with spaces\n", i, i)
	}
	for p := range 2 {
		runKcat(t, in.String(), "-b", src.ListenAddrs()[0], "-P", "-t", "kc", "-p", fmt.Sprint(p), "-K", ":",
			"-H", "origin=kcat", "-H", fmt.Sprintf("part=%d", p))
	}
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	waitFor(t, 20*time.Second, "all copied", func() bool { return totalRecords(endOffsets(t, dst, "A.kc")) == 2*n })
	format := "%p|%o|%k|%s|%h\n"
	want := runKcat(t, "", "-b", src.ListenAddrs()[0], "-C", "-t", "kc", "-e", "-q", "-f", format)
	got := runKcat(t, "", "-b", dst.ListenAddrs()[0], "-C", "-t", "A.kc", "-e", "-q", "-f", format)
	splitLines := func(s string) []string {
		l := strings.Split(strings.TrimSpace(s), "\n")
		return l
	}
	w, g := splitLines(want), splitLines(got)
	if len(w) != 2*n || len(g) != 2*n {
		t.Fatalf("kcat read %d records on the source and %d on the target, want %d each", len(w), len(g), 2*n)
	}
	byPart := func(lines []string) map[string][]string {
		m := map[string][]string{}
		for _, l := range lines {
			p, _, _ := strings.Cut(l, "|")
			m[p] = append(m[p], l)
		}
		return m
	}
	wp, gp := byPart(w), byPart(g)
	for p, ls := range wp {
		for i, l := range ls {
			if i >= len(gp[p]) || gp[p][i] != l {
				got := ""
				if i < len(gp[p]) {
					got = gp[p][i]
				}
				t.Fatalf("partition %s record %d: target %q, source %q", p, i, got, l)
			}
		}
	}
}
