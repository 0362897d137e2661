package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/offsets"
	"github.com/mm2go/mm2go/test/internal/harness"
)

// kfakeBrokerBinary is test/internal/kfakebroker, built once per test run
// by the harness (with the mm2go binary).
func kfakeBrokerBinary(t *testing.T) string {
	t.Helper()
	_, bin := harness.Binaries(t)
	return bin
}

// brokerProcess is a kfake broker running as its own process, on a fixed
// loopback port, with its state in a data directory: a test can kill it
// (SIGKILL) and start it again with what it had.
type brokerProcess struct {
	t    *testing.T
	id   string
	port int
	dir  string
	cmd  *exec.Cmd
}

func startBrokerProcess(t *testing.T, id string, port int, dir string) *brokerProcess {
	t.Helper()
	b := &brokerProcess{t: t, id: id, port: port, dir: dir}
	b.start()
	t.Cleanup(func() {
		if b.cmd != nil {
			b.kill()
		}
	})
	return b
}

func (b *brokerProcess) start() {
	b.t.Helper()
	cmd := exec.Command(kfakeBrokerBinary(b.t), "--id", b.id, "--port", strconv.Itoa(b.port), "--data-dir", b.dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.cmd = cmd
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "listening ") {
				ok = true
				listening <- true
			}
		}
		if !ok {
			listening <- false
		}
	}()
	select {
	case ok := <-listening:
		if !ok {
			b.t.Fatalf("broker %s exited before listening", b.id)
		}
	case <-time.After(30 * time.Second):
		b.t.Fatalf("broker %s did not listen within 30s", b.id)
	}
}

// ListenAddrs implements brokers.
func (b *brokerProcess) ListenAddrs() []string { return []string{"127.0.0.1:" + strconv.Itoa(b.port)} }

// kill ends the process with SIGKILL: no shutdown, no flush.
func (b *brokerProcess) kill() {
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	_ = b.cmd.Wait()
	b.cmd = nil
}

// runMM2go runs the mm2go binary and returns its exit code and output.
func runMM2go(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	cmd := exec.Command(mm2goBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// translateJSON is the part of translate-offsets --json the tests read.
type translateJSON struct {
	Basis           string `json:"basis"`
	SourceReachable bool   `json:"source_reachable"`
	SourceError     string `json:"source_error"`
	Groups          []struct {
		Group      string `json:"group"`
		Error      string `json:"error"`
		Applied    bool   `json:"applied"`
		Partitions []struct {
			SourceTopic  string `json:"source_topic"`
			TargetTopic  string `json:"target_topic"`
			Partition    int32  `json:"partition"`
			TargetOffset int64  `json:"target_offset"`
			Exact        bool   `json:"exact"`
			Commit       string `json:"commit"`
		} `json:"partitions"`
	} `json:"groups"`
}

// targetOffsets returns, by group and partition, the translated offsets of
// exact translations; inexact ones fail the test.
func (r translateJSON) targetOffsets(t *testing.T) map[string]map[int32]int64 {
	t.Helper()
	out := make(map[string]map[int32]int64)
	for _, g := range r.Groups {
		out[g.Group] = make(map[int32]int64)
		for _, p := range g.Partitions {
			if !p.Exact {
				t.Errorf("%s %s[%d]: translation %d is not exact", g.Group, p.TargetTopic, p.Partition, p.TargetOffset)
			}
			out[g.Group][p.Partition] = p.TargetOffset
		}
	}
	return out
}

func decodeTranslate(t *testing.T, out string) translateJSON {
	t.Helper()
	var r translateJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("translate-offsets --json: %v\n%s", err, out)
	}
	return r
}

// TestFailover_SourceProcessKilled is disaster recovery end to end. The
// source cluster A runs as its own process; a worker (its own process too)
// copies A->B with checkpoints; groups consume on A. Then A is killed with
// SIGKILL. translate-offsets, from B alone, gives exactly the offsets that
// were right before A died and commits them; the group resumes on B and
// reads nothing twice and skips nothing. A comes back from its data; a
// group that consumed on B meanwhile fails back to A with --fail-back, again
// exactly.
func TestFailover_SourceProcessKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a broker and the mm2go binary as processes")
	}
	a := startBrokerProcess(t, "A", freePort(t), t.TempDir())
	b := newCluster(t, "B")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	const parts, perPart = 3, 200
	keys := produceTransactions(t, a, "orders", parts, perPart, 7) // markers: source and target offsets differ
	var all []string
	for p := range int32(parts) {
		all = append(all, keys[p]...)
	}
	billing := consumeGroup(t, a, "billing", "orders", 30*time.Second, atLeast(250))
	audit := consumeGroup(t, a, "audit", "orders", 30*time.Second, atLeast(100))

	config := filepath.Join(t.TempDir(), "flows.yaml")
	yaml := fmt.Sprintf(`clusters:
  A:
    bootstrap_servers: [%q]
  B:
    bootstrap_servers: [%q]
settings:
  refresh.groups.interval.seconds: 1
  emit.checkpoints.interval.seconds: 1
  offset.flush.interval.ms: 200
flows:
  - source: A
    target: B
`, a.ListenAddrs()[0], strings.Join(b.ListenAddrs(), ","))
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	worker := harness.StartWorker(t, config)
	waitFor(t, 60*time.Second, "A.orders copied", func() bool { return totalRecords(endOffsets(t, b, "A.orders")) == parts*perPart })
	right := map[string]map[int32]int64{
		"billing": exactTargetOffsets(t, a, b, "billing", "orders", "A.orders"),
		"audit":   exactTargetOffsets(t, a, b, "audit", "orders", "A.orders"),
	}
	waitFor(t, 60*time.Second, "checkpoints of both groups at their committed offsets", func() bool {
		for _, g := range []string{"billing", "audit"} {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			cps, _, err := offsets.ReadCheckpoints(cctx, []kgo.Opt{kgo.SeedBrokers(b.ListenAddrs()...)}, "A.checkpoints.internal", g)
			cancel()
			committed := groupOffsets(t, a, g, "orders")
			if err != nil || len(cps) != len(committed) {
				return false
			}
			for p, o := range committed {
				if cps[offsets.TopicPartition{Topic: "A.orders", Partition: p}].UpstreamOffset != o {
					return false
				}
			}
		}
		return true
	})
	// With A up, translate-offsets agrees with a direct read of both sides.
	code, out, errOut := runMM2go(t, "translate-offsets", "--config", config, "--source", "A", "--target", "B", "--groups", ".*", "--json")
	if got := decodeTranslate(t, out).targetOffsets(t); code != 0 || fmt.Sprint(got) != fmt.Sprint(right) {
		t.Fatalf("translate-offsets with A up: exit %d, %v, want %v\n%s", code, got, right, errOut)
	}

	// A dies.
	a.kill()
	began := time.Now()
	code, out, errOut = runMM2go(t, "translate-offsets", "--config", config, "--source", "A", "--target", "B", "--groups", ".*", "--json")
	res := decodeTranslate(t, out)
	t.Logf("translate-offsets with A killed took %v:\n%s", time.Since(began).Round(time.Millisecond), errOut)
	if code != 0 || res.Basis != "checkpoints" || res.SourceReachable || !strings.Contains(res.SourceError, "connection refused") {
		t.Fatalf("translate-offsets with A killed: exit %d, %+v\n%s", code, res, errOut)
	}
	if got := res.targetOffsets(t); fmt.Sprint(got) != fmt.Sprint(right) {
		t.Fatalf("translations from B alone %v, want %v (those right before A died)", got, right)
	}
	// A group the checkpoint connector never saw cannot be translated.
	if code, _, errOut := runMM2go(t, "translate-offsets", "--config", config, "--source", "A", "--target", "B", "--group", "nobody", "--from-target"); code != 1 ||
		!strings.Contains(errOut, "group nobody has no checkpoints in A.checkpoints.internal on B") {
		t.Errorf("a group without checkpoints: exit %d\n%s", code, errOut)
	}
	// Apply from B alone, then consume there.
	code, out, errOut = runMM2go(t, "translate-offsets", "--config", config, "--source", "A", "--target", "B", "--groups", ".*", "--apply", "--json")
	if res := decodeTranslate(t, out); code != 0 || !res.Groups[0].Applied || !res.Groups[1].Applied {
		t.Fatalf("--apply with A killed: exit %d\n%s%s", code, out, errOut)
	}
	for _, g := range []string{"billing", "audit"} {
		if got := groupOffsets(t, b, g, "A.orders"); fmt.Sprint(got) != fmt.Sprint(right[g]) {
			t.Errorf("%s on B after --apply: %v, want %v", g, got, right[g])
		}
	}
	worker.Kill() // the flow is over: its source is gone
	gotBilling := consumeGroup(t, b, "billing", "A.orders", 60*time.Second, untilCount(len(all)-len(billing)))
	skipped, reread := diffKeys(all, billing, gotBilling)
	t.Logf("billing: %d records read on A, %d on B after the failover; skipped %d, read twice %d", len(billing), len(gotBilling), len(skipped), len(reread))
	if len(skipped) > 0 || len(reread) > 0 {
		t.Errorf("billing after the failover: skipped %v, read twice %v", head(skipped), head(reread))
	}

	// audit consumes some on B; A comes back; audit fails back to A.
	auditB := consumeGroup(t, b, "audit", "A.orders", 30*time.Second, atLeast(150))
	a.start()
	waitFor(t, 30*time.Second, "A back with its data", func() bool { return totalRecords(endOffsets(t, a, "orders")) > parts*perPart })
	code, out, errOut = runMM2go(t, "translate-offsets", "--config", config, "--source", "B", "--target", "A", "--fail-back", "--group", "audit", "--apply")
	if code != 0 || !strings.Contains(out, "basis: committed offsets on B + offset index of A->B in reverse (fail-back)") ||
		!strings.Contains(out, " partition(s) committed on A, 0 skipped") {
		t.Fatalf("fail-back of audit: exit %d\n%s%s", code, out, errOut)
	}
	consumed := append(append([]string(nil), audit...), auditB...)
	gotAudit := consumeGroup(t, a, "audit", "orders", 60*time.Second, untilCount(len(all)-len(consumed)))
	skipped, reread = diffKeys(all, consumed, gotAudit)
	t.Logf("audit: %d records read on A, %d on B, %d on A after the fail-back; skipped %d, read twice %d",
		len(audit), len(auditB), len(gotAudit), len(skipped), len(reread))
	if len(skipped) > 0 || len(reread) > 0 {
		t.Errorf("audit after the fail-back: skipped %v, read twice %v", head(skipped), head(reread))
	}
}
