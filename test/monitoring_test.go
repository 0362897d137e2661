package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/mm2go/mm2go/connect"
)

// matcher is one label matcher of a PromQL selector.
type matcher struct{ label, op, value string }

// selector is a metric name and its label matchers in a PromQL expression.
type selector struct {
	name     string
	matchers []matcher
}

// promqlKeywords are the words of PromQL that are not metric names;
// grouping keywords are followed by a label list.
var (
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
	promqlGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	// promqlAggregations may have their grouping before the parenthesis:
	// sum by (x) (m).
	promqlAggregations = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
		"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}
)

// selectors returns the metric selectors of a PromQL expression (also with
// Grafana's $variables): enough of PromQL's grammar to tell metric names from
// functions, keywords, label lists, strings, numbers and ranges.
func selectors(expr string) ([]selector, error) {
	var out []selector
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n') {
			i++
		}
		return i
	}
	// str reads a quoted string at i and returns its value and the index
	// after it.
	str := func(i int) (string, int, error) {
		q := expr[i]
		j := i + 1
		for j < len(expr) && expr[j] != q {
			if expr[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(expr) {
			return "", 0, fmt.Errorf("unterminated string at %d in %q", i, expr)
		}
		if q == '`' {
			return expr[i+1 : j], j + 1, nil
		}
		v, err := strconv.Unquote(`"` + strings.ReplaceAll(expr[i+1:j], `\'`, `'`) + `"`)
		return v, j + 1, err
	}
	closing := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(expr); j++ {
			switch expr[j] {
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			case '"', '\'', '`':
				_, e, err := str(j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			}
		}
		return 0, fmt.Errorf("unbalanced %c at %d in %q", open, i, expr)
	}
	matchers := func(i int) ([]matcher, int, error) { // i at '{'
		var ms []matcher
		i++
		for {
			i = skipSpace(i)
			if i < len(expr) && expr[i] == ',' {
				i = skipSpace(i + 1)
			}
			if i < len(expr) && expr[i] == '}' {
				return ms, i + 1, nil
			}
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			if j == i {
				return nil, 0, fmt.Errorf("label name expected at %d in %q", i, expr)
			}
			m := matcher{label: expr[i:j]}
			j = skipSpace(j)
			for _, op := range []string{"=~", "!~", "!=", "="} {
				if strings.HasPrefix(expr[j:], op) {
					m.op = op
					break
				}
			}
			if m.op == "" {
				return nil, 0, fmt.Errorf("matcher operator expected at %d in %q", j, expr)
			}
			j = skipSpace(j + len(m.op))
			v, e, err := str(j)
			if err != nil {
				return nil, 0, err
			}
			m.value = v
			ms = append(ms, m)
			i = e
		}
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			_, e, err := str(i)
			if err != nil {
				return nil, err
			}
			i = e
		case c == '[':
			e, err := closing(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = e
		case c == '{':
			_, e, err := matchers(i)
			if err != nil {
				return nil, err
			}
			i = e
		case c == '$':
			i++
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '{' || expr[i] == '}') {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := skipSpace(j)
			switch {
			case promqlGrouping[word]:
				if k < len(expr) && expr[k] == '(' {
					e, err := closing(k, '(', ')')
					if err != nil {
						return nil, err
					}
					j = e
				}
			case word == "label_values" && k < len(expr) && expr[k] == '(':
				// Grafana's label_values(selector, label): only the first
				// argument is a selector.
				e, err := closing(k, '(', ')')
				if err != nil {
					return nil, err
				}
				args := expr[k+1 : e-1]
				if c := strings.LastIndexByte(args, ','); c >= 0 && !strings.ContainsAny(args[c:], "\"'}") {
					args = args[:c]
				}
				ss, err := selectors(args)
				if err != nil {
					return nil, err
				}
				out = append(out, ss...)
				j = e
			case promqlKeywords[word], promqlAggregations[word], k < len(expr) && expr[k] == '(':
			default:
				s := selector{name: word}
				if k < len(expr) && expr[k] == '{' {
					ms, e, err := matchers(k)
					if err != nil {
						return nil, err
					}
					s.matchers, j = ms, e
				}
				out = append(out, s)
			}
			i = j
		default:
			i++
		}
	}
	return out, nil
}

func TestSelectors(t *testing.T) {
	got, err := selectors(`topk(20, sum(rate(kafka_x_total{a=~"\".*c\"", b="$v"}[5m])) by (partition, topic)) / on (x) group_left(y) ` +
		`count(up{job='mm2go'} offset 5m) > 1e6 and max without (z) (m2) or query_result(q{n!="1"}) - time() + ` +
		`sum by (a) (m3) + label_values(m4{a="x,y"}, b)`)
	if err != nil {
		t.Fatal(err)
	}
	want := []selector{
		{"kafka_x_total", []matcher{{"a", "=~", `".*c"`}, {"b", "=", "$v"}}},
		{"up", []matcher{{"job", "=", "mm2go"}}},
		{"m2", nil},
		{"q", []matcher{{"n", "!=", "1"}}},
		{"m3", nil},
		{"m4", []matcher{{"a", "=", "x,y"}}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("selectors = %v\nwant %v", got, want)
	}
	for _, bad := range []string{`x{a="b}`, `x{a}`, `sum(x[5m)`} {
		if _, err := selectors(bad); err == nil {
			t.Errorf("selectors(%q) = nil error", bad)
		}
	}
}

// notFromWorker are series a monitoring file may use that come from
// elsewhere: Prometheus itself and the kubelet's cAdvisor.
var notFromWorker = map[string]string{
	"up":                                "Prometheus",
	"container_cpu_usage_seconds_total": "cAdvisor (Kubernetes)",
}

// scrapeLabels are labels Prometheus adds when it scrapes (target labels,
// Kubernetes relabeling), not the worker.
var scrapeLabels = map[string]bool{"strimzi_io_kind": true, "strimzi_io_cluster": true, "kubernetes_pod_name": true,
	"namespace": true, "pod": true, "container": true, "job": true, "instance": true}

// jvmToGo are the JVM series Strimzi's dashboard reads and the Go runtime
// series mm2go exports in their place (the README's table): a panel on the
// JVM series stays empty, and the Go series must be there instead.
var jvmToGo = map[string][]string{
	"jvm_memory_used_bytes":         {"go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"},
	"jvm_gc_collection_seconds_sum": {"go_gc_duration_seconds_sum"},
	"jvm_threads_current":           {"go_goroutines", "go_threads"},
}

// conditional are series the worker exports only while something is
// wrong, so a healthy worker's scrape does not hold them.
var conditional = map[string]string{
	"mm2go_partition_blocked_seconds":   "only for a blocked partition",
	"mm2go_cluster_unreachable_seconds": "only while a cluster does not answer",
}

// conditionalValues are label values of a series that appear only while
// something is wrong.
var conditionalValues = map[string]map[string]string{
	"kafka_connect_connector_status": {"status": "only for a task in that state"},
}

// monitoringExprs returns the PromQL expressions of mm2go's Grafana
// dashboard (panel targets, template queries) and Prometheus rules in
// examples/monitoring, and the queries of Strimzi's MM2 dashboard
// (testdata), by file.
func monitoringExprs(t *testing.T) map[string][]string {
	t.Helper()
	const dir = "../examples/monitoring/"
	out := make(map[string][]string)
	var walk func(file string, panels []any)
	walk = func(file string, panels []any) {
		for _, p := range panels {
			pm, _ := p.(map[string]any)
			targets, _ := pm["targets"].([]any)
			for _, tg := range targets {
				if e, ok := tg.(map[string]any)["expr"].(string); ok && e != "" {
					out[file] = append(out[file], e)
				}
			}
			sub, _ := pm["panels"].([]any)
			walk(file, sub)
		}
	}
	for _, file := range []string{"mm2go.json"} {
		b, err := os.ReadFile(dir + file)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels     []any `json:"panels"`
			Templating struct {
				List []struct {
					Query any `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		walk(file, d.Panels)
		for _, v := range d.Templating.List {
			switch q := v.Query.(type) {
			case map[string]any:
				if s, ok := q["query"].(string); ok {
					out[file] = append(out[file], s)
				}
			case string:
				if strings.Contains(q, "(") {
					out[file] = append(out[file], q)
				}
			}
		}
	}
	b, err := os.ReadFile(dir + "mm2go-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("mm2go-alerts.yaml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("mm2go-alerts.yaml: rule %+v needs alert, expr, a severity and a summary", r)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("mm2go-alerts.yaml: %s: for: %v", r.Alert, err)
				}
			}
			out["mm2go-alerts.yaml"] = append(out["mm2go-alerts.yaml"], r.Expr)
		}
	}
	strimzi, err := os.ReadFile("testdata/strimzi-mm2-dashboard.promql")
	if err != nil {
		t.Fatal(err)
	}
	const strimziFile = "Strimzi's MM2 dashboard"
	for line := range strings.Lines(string(strimzi)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out[strimziFile] = append(out[strimziFile], line)
		}
	}
	if len(out["mm2go-alerts.yaml"]) < 8 || len(out["mm2go.json"]) < 20 || len(out[strimziFile]) < 25 {
		t.Fatalf("too few expressions read: %d alerts, %d + %d dashboard queries", len(out["mm2go-alerts.yaml"]),
			len(out["mm2go.json"]), len(out[strimziFile]))
	}
	return out
}

// declaredNames returns the metric names a collector declares.
func declaredNames(c prometheus.Collector) map[string]bool {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	out := make(map[string]bool)
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// TestMonitoring_DashboardsAndAlertsUseExportedSeries reads every PromQL
// expression of Strimzi's MM2 Grafana dashboard (testdata), mm2go's own
// dashboard and its alert rules, and checks each
// selector against the scrape of a worker that copies records and
// checkpoints a group: the metric exists, and a series matches its label
// matchers (quoted client ids and connector names included), except for
// labels Prometheus adds and Grafana variables.
func TestMonitoring_DashboardsAndAlertsUseExportedSeries(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 2, 100, "t")
	commitSource(t, src, "g", "t", map[int32]int64{0: 10}, "")
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: 200 * time.Millisecond},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", nil), heartbeatSpec("A", "B", nil)})
	srv := httptest.NewServer(rw.w.Handler("test"))
	defer srv.Close()
	var m metrics
	waitFor(t, 30*time.Second, "records copied, a checkpoint and offset commits", func() bool {
		m = scrape(t, srv.URL+"/metrics")
		c, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_record_count", map[string]string{"topic": "A.t", "partition": "1"})
		commit, _ := m.value("kafka_connect_connector_task_offset_commit_avg_time_ms", map[string]string{"connector": `"A->B.MirrorSourceConnector"`})
		return c == 100 && len(m["kafka_connect_mirror_mirrorcheckpointconnector_checkpoint_latency_ms"]) > 0 &&
			len(m["mm2go_checkpoint_group_age_seconds"]) > 0 && commit == commit // not NaN: a commit in the window
	})
	declared := declaredNames(rw.w.Collector())

	for file, exprs := range monitoringExprs(t) {
		for _, e := range exprs {
			sels, err := selectors(e)
			if err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			if len(sels) == 0 {
				t.Errorf("%s: no metric in %q", file, e)
			}
			for _, s := range sels {
				if _, ok := notFromWorker[s.name]; ok {
					continue
				}
				if gos, ok := jvmToGo[s.name]; ok {
					for _, g := range gos {
						if len(m[g]) == 0 {
							t.Errorf("%s: %s stands in for %s but is not in the worker's metrics", file, g, s.name)
						}
					}
					continue
				}
				if why, ok := conditional[s.name]; ok {
					if !declared[s.name] {
						t.Errorf("%s: %s (%s) is not a series the worker declares", file, s.name, why)
					}
					continue
				}
				if len(m[s.name]) == 0 {
					t.Errorf("%s: %s is not in the worker's metrics (in %q)", file, s.name, e)
					continue
				}
				ms := slices.DeleteFunc(slices.Clone(s.matchers), func(mt matcher) bool { return conditionalValues[s.name][mt.label] != "" })
				if !slices.ContainsFunc(m[s.name], func(x sample) bool { return matches(t, x.labels, ms) }) {
					t.Errorf("%s: no series of %s matches %v (in %q)\n%s", file, s.name, s.matchers, e, m.describe(s.name))
				}
			}
		}
	}
}

// matches reports whether labels satisfy the matchers, leaving out labels
// the scrape adds and values with Grafana variables.
func matches(t *testing.T, labels map[string]string, ms []matcher) bool {
	for _, mt := range ms {
		if scrapeLabels[mt.label] || strings.Contains(mt.value, "$") {
			continue
		}
		v := labels[mt.label]
		var ok bool
		switch mt.op {
		case "=":
			ok = v == mt.value
		case "!=":
			ok = v != mt.value
		case "=~", "!~":
			re, err := regexp.Compile("^(?:" + mt.value + ")$")
			if err != nil {
				t.Errorf("bad regex %q: %v", mt.value, err)
				return false
			}
			ok = re.MatchString(v) == (mt.op == "=~")
		}
		if !ok {
			return false
		}
	}
	return true
}
