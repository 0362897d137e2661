package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func runCmd(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun_HelpAndUnknown(t *testing.T) {
	ctx := context.Background()
	if code, out, _ := runCmd(t, ctx, "--help"); code != exitOK || !strings.Contains(out, "worker") {
		t.Errorf("--help: code %d, output %q", code, out)
	}
	for _, c := range commands() {
		code, out, errOut := runCmd(t, ctx, c.name, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: mm2go "+c.name) {
			t.Errorf("%s --help: code %d, stdout %q, stderr %q", c.name, code, out, errOut)
		}
	}
	for _, c := range commands() {
		code, out, errOut := runCmd(t, ctx, "help", c.name)
		if code != exitOK || !strings.HasPrefix(out, "Usage: mm2go "+c.name) {
			t.Errorf("help %s: code %d, stdout %q, stderr %q", c.name, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd(t, ctx, "help", "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("help of an unknown command: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, ctx, "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, ctx, "worker", "--no-such-flag"); code != exitUsage || !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("bad flag: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, ctx, "worker"); code != exitUsage || !strings.Contains(errOut, "--config is required") {
		t.Errorf("worker without --config: code %d, stderr %q", code, errOut)
	}
	if code, out, _ := runCmd(t, ctx, "version"); code != exitOK || !strings.HasPrefix(out, "mm2go ") {
		t.Errorf("version: code %d, output %q", code, out)
	}
}

func TestValidate_ReportsEveryProblemByPath(t *testing.T) {
	code, out, _ := runCmd(t, context.Background(), "validate", "--config", "testdata/bad.yaml")
	if code != exitUsage {
		t.Fatalf("validate bad.yaml: exit %d, want %d; output:\n%s", code, exitUsage, out)
	}
	for _, want := range []string{"clusters.backup.bootstrap_servers", "replication.factr", "primray", "flows[0].topics[0]"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output does not mention %q:\n%s", want, out)
		}
	}
	code, out, _ = runCmd(t, context.Background(), "validate", "--config", "testdata/bad.yaml", "--json")
	var res validateResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("validate --json output is not JSON: %v\n%s", err, out)
	}
	if code != exitUsage || res.Valid || len(res.Problems) < 4 {
		t.Errorf("validate --json: code %d, %+v", code, res)
	}
	// A typo in a structural key is refused with its path.
	code, out, _ = runCmd(t, context.Background(), "validate", "--config", "testdata/typo.yaml")
	if code != exitUsage || !strings.Contains(out, "clusters.backup.bootstrap_server") {
		t.Errorf("validate typo.yaml: code %d, output:\n%s", code, out)
	}
}

func TestValidate_GoodFiles(t *testing.T) {
	for _, path := range []string{"../../examples/migrate/flows.yaml", "../../examples/migrate/mm2.properties"} {
		code, out, errOut := runCmd(t, context.Background(), "validate", "--config", path)
		if code != exitOK || !strings.Contains(out, "is valid") {
			t.Errorf("validate %s: code %d\n%s%s", path, code, out, errOut)
		}
	}
}

func TestWorker_BadFlowFileStartsNothing(t *testing.T) {
	code, _, errOut := runCmd(t, context.Background(), "worker", "--config", "testdata/bad.yaml")
	if code != exitUsage || !strings.Contains(errOut, "nothing was started") || !strings.Contains(errOut, "primray") {
		t.Errorf("worker with a bad file: code %d, stderr:\n%s", code, errOut)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if code, _, errOut := runCmd(t, context.Background(), "worker", "--config", missing); code != exitUsage || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("worker with a missing file: code %d, stderr:\n%s", code, errOut)
	}
}

// TestWorker_RunsAndStopsGracefully runs the worker subcommand against two
// fake clusters and stops it with a cancelled context (what SIGINT does).
func TestWorker_RunsAndStopsGracefully(t *testing.T) {
	src, err := kfake.NewCluster(kfake.ClusterID("a"), kfake.SeedTopics(2, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := kfake.NewCluster(kfake.ClusterID("b"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	path := filepath.Join(t.TempDir(), "flows.yaml")
	yaml := "clusters:\n  a:\n    bootstrap_servers: [" + strings.Join(src.ListenAddrs(), ",") + "]\n" +
		"  b:\n    bootstrap_servers: [" + strings.Join(dst.ListenAddrs(), ",") + "]\n" +
		"flows:\n  - source: a\n    target: b\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code, _, errOut := runCmd(t, ctx, "worker", "--config", path, "--log-json")
	if code != exitOK {
		t.Fatalf("worker: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, `"@message":"worker stopped"`) || !strings.Contains(errOut, "created remote topic") {
		t.Errorf("worker log lacks start/stop lines:\n%s", errOut)
	}
}

func TestDemo_VerifiesTheCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for a few seconds")
	}
	code, out, errOut := runCmd(t, context.Background(), "demo", "--duration", "2s", "--rate", "1000", "--json")
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	// stdout is the JSON summary and nothing else; the story is on stderr.
	var sum demoSummary
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sum); err != nil || dec.More() {
		t.Fatalf("demo --json stdout is not one JSON document (%v):\n%s", err, out)
	}
	if !strings.Contains(errOut, "mm2go demo: source cluster ") {
		t.Errorf("demo --json: no story on stderr:\n%s", errOut)
	}
	if sum.Produced == 0 || sum.Missing != 0 || sum.OnTarget != sum.Produced {
		t.Errorf("demo summary %+v: want every produced record on the target", sum)
	}
	// The consumer group moved by the cut-over read every record of orders
	// once: part on the source, the rest on the target.
	if c := sum.Cutover; c == nil || c.Error != "" || c.ReadOnSource == 0 || c.ReadOnTarget == 0 ||
		c.ReadOnSource+c.ReadOnTarget != c.Produced || c.ReadTwice != 0 || c.Skipped != 0 {
		t.Errorf("demo cut-over %+v: want every record read once, on both sides", c)
	}
	if !strings.Contains(errOut, "demo-billing  committed  done") {
		t.Errorf("demo --json: no cut-over progress on stderr:\n%s", errOut)
	}
}

// TestParseFlowArg: --flow is SOURCE->TARGET for every command that takes
// it (status, verify, migrate), with one message for each mistake.
func TestParseFlowArg(t *testing.T) {
	for _, tc := range []struct{ arg, source, target, err string }{
		{arg: "a->b", source: "a", target: "b"},
		{arg: " legacy -> cloud ", source: "legacy", target: "cloud"},
		{arg: "a-b", err: `--flow "a-b" is not SOURCE->TARGET (for example --flow 'legacy->cloud')`},
		{arg: "->b", err: `--flow "->b" is not SOURCE->TARGET`},
		{arg: "a->", err: `--flow "a->" is not SOURCE->TARGET`},
		{arg: "a->b->c", err: `--flow "a->b->c" is not SOURCE->TARGET`},
		{arg: "a->a", err: `--flow "a->a" names the same cluster twice`},
	} {
		source, target, err := parseFlowArg(tc.arg)
		switch {
		case tc.err == "" && (err != nil || source != tc.source || target != tc.target):
			t.Errorf("parseFlowArg(%q) = %q, %q, %v; want %q, %q", tc.arg, source, target, err, tc.source, tc.target)
		case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
			t.Errorf("parseFlowArg(%q) = %v, want an error starting %q", tc.arg, err, tc.err)
		}
	}
}
