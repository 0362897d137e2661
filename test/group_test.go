package test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/test/internal/harness"
)

// groupSettings are the settings of the worker-group tests: three source
// tasks, frequent commits, and a 6s session (the brokers' minimum) so that
// a killed worker's units move within seconds.
func groupSettings() map[string]string {
	s := harness.DefaultSettings()
	s["tasks.max"] = "3"
	s["session.timeout.ms"] = "6000"
	s["heartbeat.interval.ms"] = "1000"
	s["emit.checkpoints.interval.seconds"] = "1"
	return s
}

// groupWorker is an `mm2go worker` process of a group test, with its REST
// API's URL and its worker id (the host:port of that API).
type groupWorker struct {
	*harness.Worker
	id, url string
}

// startGroupWorker starts a worker on config with a REST API on a free
// loopback port, and waits until it serves it.
func startGroupWorker(t *testing.T, config string) *groupWorker {
	t.Helper()
	w := harness.StartWorker(t, config, "--http-addr", "127.0.0.1:0")
	w.WaitLog("serving the REST API", 60*time.Second)
	return &groupWorker{Worker: w, id: logField(t, w.Log(), "worker_id="), url: logField(t, w.Log(), "url=")}
}

// lastAssignment returns what the worker's last "assignment received" log
// line says: how many members the group has, and whether it leads.
func lastAssignment(log string) (members int, leader bool, ok bool) {
	i := strings.LastIndex(log, "assignment received")
	if i < 0 {
		return 0, false, false
	}
	line := log[i:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "members="); ok {
			members, _ = strconv.Atoi(v)
		}
		if f == "is_leader=true" {
			leader = true
		}
	}
	return members, leader, true
}

const sourceConnector = "/connectors/A-%3EB.MirrorSourceConnector"

// sourceTasks returns, as worker w's REST API answers for the group, the
// worker id and state of each task of A->B's MirrorSourceConnector and the
// source partitions of topic grp each copies.
func sourceTasks(t *testing.T, w *groupWorker) (workers map[int]string, states map[int]string, parts map[int][]int32) {
	t.Helper()
	workers, states, parts = map[int]string{}, map[int]string{}, map[int][]int32{}
	var st struct {
		Tasks []struct {
			ID       int    `json:"id"`
			State    string `json:"state"`
			WorkerID string `json:"worker_id"`
		} `json:"tasks"`
	}
	if code := restCall(t, w.url, "GET", sourceConnector+"/status", &st); code != 200 {
		t.Fatalf("GET status from %s = %d", w.id, code)
	}
	for _, ts := range st.Tasks {
		workers[ts.ID], states[ts.ID] = ts.WorkerID, ts.State
	}
	var tasks []struct {
		ID     struct{ Task int } `json:"id"`
		Config map[string]string  `json:"config"`
	}
	if code := restCall(t, w.url, "GET", sourceConnector+"/tasks", &tasks); code != 200 {
		t.Fatalf("GET tasks from %s = %d", w.id, code)
	}
	for _, tk := range tasks {
		for _, item := range strings.Split(tk.Config["task.assigned.partitions"], ",") {
			if p, ok := strings.CutPrefix(item, "grp-"); ok {
				n, _ := strconv.Atoi(p)
				parts[tk.ID.Task] = append(parts[tk.ID.Task], int32(n))
			}
		}
	}
	return workers, states, parts
}

// partitionsOf returns the source partitions of topic grp that worker id
// copies, as w's REST API says.
func partitionsOf(t *testing.T, w *groupWorker, id string) map[int32]bool {
	t.Helper()
	owners, _, taskParts := sourceTasks(t, w)
	out := map[int32]bool{}
	for task, wid := range owners {
		if wid == id {
			for _, p := range taskParts[task] {
				out[p] = true
			}
		}
	}
	return out
}

// restCall sends a request to a worker's REST API and decodes the JSON
// answer into out (when not nil); it returns the status code.
func restCall(t *testing.T, url, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s = %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// waitSettled waits until every worker of ws says the group has len(ws)
// members, and the REST API of each answers the source tasks RUNNING on
// workers of ws, the same from all.
func waitSettled(t *testing.T, ws []*groupWorker, within time.Duration) {
	t.Helper()
	live := map[string]bool{}
	for _, w := range ws {
		live[w.id] = true
	}
	waitFor(t, within, fmt.Sprintf("%d workers sharing the flows", len(ws)), func() bool {
		for _, w := range ws {
			if n, _, ok := lastAssignment(w.Log()); !ok || n != len(ws) {
				return false
			}
		}
		var first map[int]string
		for _, w := range ws {
			workers, states, _ := sourceTasks(t, w)
			if len(workers) != 3 {
				return false
			}
			for id, wid := range workers {
				if !live[wid] || states[id] != "RUNNING" {
					return false
				}
			}
			if first != nil && !maps.Equal(first, workers) {
				return false
			}
			first = workers
		}
		return true
	})
}

// TestGroup_WorkersShareTheWork runs mm2go worker processes on one flow
// file, a producer writing all along: two started at the same moment (by
// accident), then a third. In the steady state nothing is copied twice. A
// worker started with another version of the file runs nothing and says
// why, while the others carry on. One is killed with SIGKILL and another
// started: the only duplicates are, per source partition the killed worker
// copied, records it copied after its last commit (its uncommitted window:
// what was on the target at the kill past the committed offset); the other
// partitions have none. Then a rolling restart of all three (SIGTERM each
// in turn, start it again, wait until the group is whole): no duplicate
// more. At the end every record is on the target.
//
// It runs with a 6 s session and 1 s heartbeats; MM2GO_FAULT=full runs it
// with Connect's defaults too (10 s, 3 s), which take longer.
func TestGroup_WorkersShareTheWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mm2go worker processes")
	}
	t.Run("session=6s", func(t *testing.T) { workersShareTheWork(t, groupSettings()) })
	if os.Getenv("MM2GO_FAULT") != "full" {
		return
	}
	t.Run("defaults", func(t *testing.T) {
		s := groupSettings()
		delete(s, "session.timeout.ms")
		delete(s, "heartbeat.interval.ms")
		workersShareTheWork(t, s)
	})
}

func workersShareTheWork(t *testing.T, settings map[string]string) {
	ctx := context.Background()
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	const parts = 6
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, parts, 1, nil, "grp"); err != nil {
		t.Fatal(err)
	}
	prod := harness.StartProducer(client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		harness.ProducerConfig{Topic: "grp", Partitions: parts, Tag: "g", Rate: 3000})
	dir := t.TempDir()
	ff := harness.FlowFile{Source: strings.Join(src.ListenAddrs(), ","), Target: strings.Join(dst.ListenAddrs(), ","),
		Topics: []string{"grp"}, Settings: settings}
	config := ff.Write(t, filepath.Join(dir, "flows.yaml"))
	start := func() *groupWorker { return startGroupWorker(t, config) }
	session := "session.timeout.ms=" + cmp.Or(settings["session.timeout.ms"], "10000")

	// Two started at the same moment: they share, they do not both copy.
	var w1, w2 *groupWorker
	var wg sync.WaitGroup
	wg.Go(func() { w1 = start() })
	wg.Go(func() { w2 = start() })
	wg.Wait()
	waitSettled(t, []*groupWorker{w1, w2}, 60*time.Second)
	progress(t, dst, "A.grp", parts, 30*time.Second)
	if rep := compareNow(t, src, dst); !noDuplicates(rep) {
		t.Fatalf("two workers started at once copied records twice:\n%s", rep)
	}
	w3 := start()
	waitSettled(t, []*groupWorker{w1, w2, w3}, 60*time.Second)
	progress(t, dst, "A.grp", parts, 30*time.Second)
	steady := compareNow(t, src, dst)
	if !noDuplicates(steady) {
		t.Fatalf("steady state with three workers:\n%s", steady)
	}
	t.Logf("steady state: %s", steady.Summary())

	// A worker with another version of the file waits and says why.
	other := ff
	other.Settings = maps.Clone(ff.Settings)
	other.Settings["emit.checkpoints.interval.seconds"] = "2"
	odd := harness.StartWorker(t, other.Write(t, filepath.Join(dir, "other.yaml")))
	odd.WaitLog("this worker's flow file differs from the group's", 60*time.Second)
	progress(t, dst, "A.grp", parts, 30*time.Second) // the others carry on
	if strings.Contains(odd.Log(), "task started") || strings.Contains(odd.Log(), "connector started") {
		t.Fatalf("a worker with another flow file ran units:\n%s", odd.Log())
	}
	if err := odd.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}

	// SIGKILL w1; its units move after the session timeout. The source
	// partitions it copied, as the REST API says.
	killedParts := partitionsOf(t, w2, w1.id)
	killed := time.Now()
	w1.Kill()
	// What the killed worker left: copied, and committed.
	atKill := endOffsets(t, dst, "A.grp")
	committed := committedGrp(t, dst)
	window := make(map[int32]int64, parts)
	recopied := make(map[int32]int64, parts)
	for p := range int32(parts) {
		window[p] = max(0, atKill[p]-(committed[p]+1))
		recopied[p] = atKill[p] + window[p] // the target's end once the window was copied again
	}
	w4 := start()
	t.Logf("after SIGKILL (%s): the killed worker's partitions %v copied again after %v", session, slices.Sorted(maps.Keys(killedParts)), stallTime(t, dst, killed))
	ws := []*groupWorker{w2, w3, w4}
	waitSettled(t, ws, 60*time.Second)
	progressPast(t, dst, "A.grp", recopied, 60*time.Second)
	afterKill := compareNow(t, src, dst)
	dupsAfterKill := make(map[int32]int64, parts)
	for _, pr := range afterKill.Parts {
		_, d, _, _, _ := pr.Counts()
		dupsAfterKill[pr.Partition] = d
		bound := int64(0)
		if killedParts[pr.Partition] {
			bound = window[pr.Partition]
		}
		if d > bound {
			t.Errorf("partition %d: %d duplicates after the kill, more than %d (the killed worker's uncommitted window: %v; partitions it copied: %v)\n%s",
				pr.Partition, d, bound, window, slices.Sorted(maps.Keys(killedParts)), afterKill)
		}
	}
	t.Logf("after SIGKILL: %s", afterKill.Summary())

	// A rolling restart: each worker in turn stops gracefully, starts
	// again, and the group is whole before the next.
	for i := range ws {
		had := partitionsOf(t, ws[(i+1)%len(ws)], ws[i].id)
		left := time.Now()
		ws[i].Signal(syscall.SIGTERM)
		t.Logf("rolling restart %d/3 (%s), after SIGTERM: the stopped worker's partitions %v copied again after %v", i+1, session, slices.Sorted(maps.Keys(had)), stallTime(t, dst, left))
		if err := ws[i].Stop(time.Minute); err != nil {
			t.Fatal(err)
		}
		ws[i] = start()
		waitSettled(t, ws, 60*time.Second)
		progress(t, dst, "A.grp", parts, 30*time.Second)
	}

	acked, err := prod.Stop(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srcEnds := endOffsets(t, src, "grp")
	waitFor(t, 90*time.Second, "every record copied and committed", func() bool {
		c := committedGrp(t, dst)
		for p := range int32(parts) {
			if c[p]+1 < srcEnds[p] {
				return false
			}
		}
		return true
	})
	for _, w := range ws {
		if err := w.Stop(time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	rep := compareNow(t, src, dst)
	t.Logf("%d records produced; %s", acked, rep.Summary())
	if !rep.Clean() {
		t.Fatalf("copy is not clean:\n%s", rep)
	}
	// Graceful leaves and joins copy nothing twice: the duplicates are
	// the kill's, no more.
	for _, pr := range rep.Parts {
		if _, d, _, _, _ := pr.Counts(); d != dupsAfterKill[pr.Partition] {
			t.Errorf("partition %d: %d duplicates at the end, %d after the kill: the rolling restart copied records twice\n%s", pr.Partition, d, dupsAfterKill[pr.Partition], rep)
		}
	}
}

// noDuplicates reports whether a comparison found no record twice, out of
// order, foreign or changed (missing records are still on their way).
func noDuplicates(rep *harness.Report) bool {
	_, _, _, d, o, f, c := rep.Totals()
	return d == 0 && o == 0 && f == 0 && c == 0
}

// TestGroup_RESTOnAnyWorker drives a group of three worker processes
// through Connect's REST API, a producer running: every worker answers for
// the whole group (the same worker, host:port, for each task); a pause sent
// to a worker that does not lead stops the copy on the workers that run
// the tasks, a resume goes on; a task restart sent to a worker that does
// not run the task restarts it where it runs; errors are Connect's; each
// worker exports the group's rebalances. At the end every record is on the
// target once.
func TestGroup_RESTOnAnyWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mm2go worker processes")
	}
	ctx := context.Background()
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	const parts = 6
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, parts, 1, nil, "grp"); err != nil {
		t.Fatal(err)
	}
	prod := harness.StartProducer(client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		harness.ProducerConfig{Topic: "grp", Partitions: parts, Tag: "r", Rate: 600})
	ff := harness.FlowFile{Source: strings.Join(src.ListenAddrs(), ","), Target: strings.Join(dst.ListenAddrs(), ","),
		Topics: []string{"grp"}, Settings: groupSettings()}
	config := ff.Write(t, filepath.Join(t.TempDir(), "flows.yaml"))
	ws := make([]*groupWorker, 3)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Go(func() { ws[i] = startGroupWorker(t, config) })
	}
	wg.Wait()
	waitSettled(t, ws, 60*time.Second) // and every worker answers the same for each task
	progress(t, dst, "A.grp", parts, 30*time.Second)

	var leader, follower *groupWorker
	byID := map[string]*groupWorker{}
	for _, w := range ws {
		byID[w.id] = w
		if _, lead, _ := lastAssignment(w.Log()); lead {
			leader = w
		} else {
			follower = w
		}
	}
	if leader == nil || follower == nil {
		t.Fatal("no leader, or no other worker, in the workers' logs")
	}

	// Pause, sent to a worker that does not lead: the tasks pause where
	// they run (every worker says so), and the copy stops.
	if code := restCall(t, follower.url, "PUT", sourceConnector+"/pause", nil); code != 202 {
		t.Fatalf("pause at %s = %d, want 202", follower.id, code)
	}
	for _, w := range ws {
		waitFor(t, 30*time.Second, "source tasks PAUSED, seen from "+w.id, func() bool {
			_, states, _ := sourceTasks(t, w)
			for _, s := range states {
				if s != "PAUSED" {
					return false
				}
			}
			return len(states) == 3
		})
	}
	paused := endOffsets(t, dst, "A.grp")
	time.Sleep(time.Second) // nothing to wait for: a paused task copies nothing
	if now := endOffsets(t, dst, "A.grp"); !maps.Equal(now, paused) {
		t.Errorf("the target grew while the source connector was paused: %v -> %v", paused, now)
	}
	if code := restCall(t, follower.url, "PUT", sourceConnector+"/resume", nil); code != 202 {
		t.Fatalf("resume at %s = %d, want 202", follower.id, code)
	}
	progressPast(t, dst, "A.grp", paused, 30*time.Second)

	// A task restart sent to a worker that does not run the task.
	owners, _, _ := sourceTasks(t, follower)
	task, runs, asked := -1, (*groupWorker)(nil), (*groupWorker)(nil)
	for id, wid := range owners {
		for _, w := range ws {
			if w.id != wid && byID[wid] != nil {
				task, runs, asked = id, byID[wid], w
			}
		}
	}
	if task < 0 {
		t.Fatalf("no task to restart: %v", owners)
	}
	line := regexp.MustCompile(fmt.Sprintf(`restarting task on request: connector=MirrorSourceConnector .*task=%d `, task))
	before := len(line.FindAllString(runs.Log(), -1))
	if code := restCall(t, asked.url, "POST", fmt.Sprintf("%s/tasks/%d/restart", sourceConnector, task), nil); code != 204 {
		t.Fatalf("restart of task %d (on %s) at %s = %d, want 204", task, runs.id, asked.id, code)
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("task %d restarted on %s, which runs it", task, runs.id), func() bool {
		return len(line.FindAllString(runs.Log(), -1)) == before+1
	})
	for _, w := range ws {
		if w != runs && strings.Contains(w.Log(), "restarting task on request") {
			t.Errorf("%s restarted a task it does not run", w.id)
		}
	}
	waitSettled(t, ws, 30*time.Second)

	// Connect's error shape, and the health and metrics of each worker.
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if code := restCall(t, follower.url, "GET", "/connectors/A-%3EB.Nope/status", &e); code != 404 || e.Code != 404 || !strings.Contains(e.Message, "Nope") {
		t.Errorf("unknown connector = %d %+v, want Connect's 404", code, e)
	}
	for _, w := range ws {
		if code := restCall(t, w.url, "GET", "/health", nil); code != 200 {
			t.Errorf("GET /health on %s = %d", w.id, code)
		}
		resp, err := http.Get(w.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, re := range []string{`(?m)^kafka_connect_worker_rebalance_completed_rebalances_total [1-9]`, `(?m)^kafka_connect_worker_rebalance_epoch [1-9]`,
			`(?m)^kafka_connect_worker_rebalance_rebalancing 0$`, `(?m)^kafka_connect_worker_rebalance_time_since_last_rebalance_ms [0-9]`} {
			if !regexp.MustCompile(re).Match(b) {
				t.Errorf("GET /metrics on %s has no line matching %s", w.id, re)
			}
		}
	}

	if _, err := prod.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	srcEnds := endOffsets(t, src, "grp")
	waitFor(t, 60*time.Second, "every record copied and committed", func() bool {
		c := committedGrp(t, dst)
		for p := range int32(parts) {
			if c[p]+1 < srcEnds[p] {
				return false
			}
		}
		return true
	})
	for _, w := range ws {
		if err := w.Stop(time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	rep := compareNow(t, src, dst)
	t.Logf("%s", rep.Summary())
	if !rep.Clean() || !noDuplicates(rep) {
		t.Fatalf("pause, resume and a task restart: the copy is not exact:\n%s", rep)
	}
}

// compareNow compares what the target holds of topic grp with the source.
func compareNow(t *testing.T, src, dst brokers) *harness.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The copy first: the source, read after it, holds every record it
	// copies (and more while the producer runs: missing, not foreign).
	got, err := harness.ReadTopic(ctx, brokerOpts(dst), "A.grp")
	if err != nil {
		t.Fatal(err)
	}
	want, err := harness.ReadTopic(ctx, brokerOpts(src), "grp")
	if err != nil {
		t.Fatal(err)
	}
	return harness.Compare(want, got)
}

// committedGrp returns the committed source offsets of topic grp.
func committedGrp(t *testing.T, dst brokers) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := harness.CommittedOffsets(ctx, brokerOpts(dst), "A")
	if err != nil {
		t.Fatal(err)
	}
	return c["grp"]
}

// progress waits until every partition of topic on c grew.
func progress(t *testing.T, c brokers, topic string, parts int, within time.Duration) {
	t.Helper()
	before := endOffsets(t, c, topic)
	for p := range int32(parts) {
		if _, ok := before[p]; !ok {
			before[p] = 0
		}
	}
	progressPast(t, c, topic, before, within)
}

// progressPast waits until every partition of topic on c is past from, and
// returns when it saw that.
func progressPast(t *testing.T, c brokers, topic string, from map[int32]int64, within time.Duration) time.Time {
	t.Helper()
	waitFor(t, within, fmt.Sprintf("every partition of %s copied past %v", topic, from), func() bool {
		now := endOffsets(t, c, topic)
		for p, off := range from {
			if now[p] <= off {
				return false
			}
		}
		return true
	})
	return time.Now()
}

func brokerOpts(c brokers) []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)} }

// stallTime measures how long the partitions of A.grp that a worker
// stopped at event stood still: from event, every 50ms, the longest time a
// partition went without a new record, until every partition grew in the
// last 300ms at least 2s after event. With records arriving at 500/s per
// partition a partition otherwise never stands still for more than a few
// hundred milliseconds, so this is the time from event to the first record
// the new owner copied.
func stallTime(t *testing.T, dst brokers, event time.Time) time.Duration {
	t.Helper()
	last := endOffsets(t, dst, "A.grp")
	grew := make(map[int32]time.Time, len(last))
	for p := range last {
		grew[p] = event
	}
	var longest time.Duration
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		now := time.Now()
		ends := endOffsets(t, dst, "A.grp")
		recent := true
		for p, off := range ends {
			if off > last[p] {
				longest = max(longest, now.Sub(grew[p]))
				grew[p], last[p] = now, off
			}
			if now.Sub(grew[p]) > 300*time.Millisecond {
				recent = false
			}
		}
		if recent && now.Sub(event) > 2*time.Second {
			return longest.Round(50 * time.Millisecond)
		}
	}
	t.Fatalf("A.grp did not copy every partition again within 90s of the event")
	return 0
}

// TestGroup_CutOffWorkerStopsCommittingFirst cuts one of two workers off
// from the group's coordinator (its heartbeats and rejoins get no answer;
// it still reaches the source and the target) while a producer runs. It
// must stop committing before its tasks go to the other worker: in the
// offsets topic, the committed offsets of every source partition only grow
// (two owners committing at once would interleave a lower offset), and
// nothing is lost.
func TestGroup_CutOffWorkerStopsCommittingFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mm2go worker processes")
	}
	ctx := context.Background()
	src, dst, grp := newCluster(t, "src"), newCluster(t, "dst"), newCluster(t, "grp")
	const parts = 6
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, parts, 1, nil, "grp"); err != nil {
		t.Fatal(err)
	}
	prod := harness.StartProducer(client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		harness.ProducerConfig{Topic: "grp", Partitions: parts, Tag: "g", Rate: 3000})
	var b strings.Builder
	fmt.Fprintf(&b, "clusters:\n  A: {bootstrap_servers: [%q]}\n  B: {bootstrap_servers: [%q]}\n  G: {bootstrap_servers: [%q]}\nsettings:\n",
		src.ListenAddrs()[0], dst.ListenAddrs()[0], grp.ListenAddrs()[0])
	settings := groupSettings()
	settings["mm2go.group.cluster"] = "G" // the group's cluster is G alone
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, "  %s: %q\n", k, settings[k])
	}
	b.WriteString("flows:\n  - {source: A, target: B, topics: [grp]}\n")
	config := filepath.Join(t.TempDir(), "flows.yaml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	w1 := harness.StartWorker(t, config, "--http-addr", "127.0.0.1:0")
	w1.WaitLog("task started", 60*time.Second)
	w2 := harness.StartWorker(t, config, "--http-addr", "127.0.0.1:0")
	w2.WaitLog("task started", 60*time.Second)
	progress(t, dst, "A.grp", parts, 30*time.Second)

	// w1's member id, from the group's description: its metadata names
	// its worker id.
	victim := logField(t, w1.Log(), "worker_id=")
	groupID := logField(t, w1.Log(), "group=")
	var memberID string
	waitFor(t, 30*time.Second, "w1 in the group's description", func() bool {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{groupID}
		resp, err := req.RequestWith(ctx, client(t, grp))
		if err != nil || len(resp.Groups) != 1 {
			return false
		}
		for _, m := range resp.Groups[0].Members {
			if strings.Contains(string(m.ProtocolMetadata), victim) {
				memberID = m.MemberID
			}
		}
		return memberID != ""
	})
	// A black hole for w1's group requests only.
	cutOff := time.Now()
	drop := func(req kmsg.Request) (kmsg.Response, error, bool) {
		var id string
		switch r := req.(type) {
		case *kmsg.HeartbeatRequest:
			id = r.MemberID
		case *kmsg.SyncGroupRequest:
			id = r.MemberID
		case *kmsg.JoinGroupRequest:
			id = r.MemberID
			for _, p := range r.Protocols {
				if strings.Contains(string(p.Metadata), victim) {
					id = memberID
				}
			}
		}
		grp.KeepControl()
		return nil, nil, id == memberID
	}
	for _, key := range []int16{kmsg.Heartbeat.Int16(), kmsg.JoinGroup.Int16(), kmsg.SyncGroup.Int16()} {
		grp.ControlKey(key, drop)
	}
	w1.WaitLog("lost group membership", 30*time.Second)
	t.Logf("w1 fenced itself %v after its group requests were cut off", time.Since(cutOff).Round(100*time.Millisecond))
	// w2 takes every task once the coordinator evicted w1.
	waitFor(t, 60*time.Second, "w2 runs every source task", func() bool {
		return strings.Count(w2.Log(), "task started: connector=MirrorSourceConnector") >= 3
	})
	progress(t, dst, "A.grp", parts, 30*time.Second)

	if _, err := prod.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	srcEnds := endOffsets(t, src, "grp")
	waitFor(t, 90*time.Second, "every record copied and committed", func() bool {
		c := committedGrp(t, dst)
		for p := range int32(parts) {
			if c[p]+1 < srcEnds[p] {
				return false
			}
		}
		return true
	})
	w1.Kill()
	if err := w2.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	rep := compareNow(t, src, dst)
	t.Logf("%s", rep.Summary())
	if !rep.Clean() {
		t.Fatalf("copy is not clean:\n%s", rep)
	}
	// Every commit of a partition is at or past the one before it.
	recs := readOffsetsTopic(t, dst)
	last := make(map[string]int64)
	for _, r := range recs {
		off, ok, err := connect.ParseOffsetValue(r.Value)
		if err != nil || !ok {
			continue
		}
		if prev, seen := last[string(r.Key)]; seen && off < prev {
			t.Errorf("source offset of %s committed back from %d to %d (offsets topic %d/%d): two owners committed", r.Key, prev, off, r.Partition, r.Offset)
		}
		last[string(r.Key)] = off
	}
}

// logField returns the value after the first "name" in a worker's log.
func logField(t *testing.T, log, name string) string {
	t.Helper()
	i := strings.Index(log, name)
	if i < 0 {
		t.Fatalf("no %s in the worker's log:\n%s", name, log)
	}
	v := log[i+len(name):]
	if j := strings.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	return v
}

// readOffsetsTopic reads the Connect offsets topic of flows from A, in
// order per partition.
func readOffsetsTopic(t *testing.T, dst brokers) []*kgo.Record {
	t.Helper()
	ends := endOffsets(t, dst, connect.OffsetsTopic("A"))
	start := make(map[int32]kgo.Offset)
	for p, e := range ends {
		if e > 0 {
			start[p] = kgo.NewOffset().AtStart()
		}
	}
	cl := client(t, dst, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{connect.OffsetsTopic("A"): start}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(start) > 0 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if r.Offset == ends[r.Partition]-1 {
				delete(start, r.Partition)
			}
		})
	}
	if len(start) > 0 {
		t.Fatalf("offsets topic not read to its end: %v", ctx.Err())
	}
	return out
}
