package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mm2go/mm2go/flows"
)

// The Dockerfile cannot be built here (no container engine); these tests
// check what can be checked without one: the Go version, the stages, the
// user, and that the build command's -ldflags set the variables `mm2go
// version` prints, by running that build (without -trimpath and
// CGO_ENABLED=0, which only change how it is compiled, so that it reuses the
// build cache).

func readDockerfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continued lines.
	return strings.ReplaceAll(string(b), "\\\n", " ")
}

func TestDockerfile_Shape(t *testing.T) {
	df := readDockerfile(t)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil || !strings.Contains(df, "ARG GO_VERSION="+string(goVersion[1])+"\n") {
		t.Errorf("the Dockerfile's GO_VERSION is not go.mod's go %s", goVersion[1])
	}
	for _, want := range []string{
		"FROM golang:${GO_VERSION}-bookworm AS build",
		"CGO_ENABLED=0 go build",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"COPY --from=build /out/mm2go /usr/local/bin/mm2go",
		`ENTRYPOINT ["/usr/local/bin/mm2go"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile has no %q", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "0") || strings.HasPrefix(users[len(users)-1][1], "root") {
		t.Errorf("the image does not run as a non-root user: USER %v", users)
	}
	// The files the build needs are not ignored.
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		switch strings.TrimSpace(line) {
		case "go.mod", "go.sum", "cmd", "connect", "connectors", "flows", "offsets", "internal", "*", "**":
			t.Errorf(".dockerignore drops %q, which the build needs", line)
		}
	}
}

// TestDockerfile_BuildSetsVersion runs the Dockerfile's go build with its
// -ldflags and checks `mm2go version --json` shows the version and commit
// passed as build arguments: a misspelt -X name would be ignored silently.
func TestDockerfile_BuildSetsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mm2go")
	}
	df := readDockerfile(t)
	m := regexp.MustCompile(`-ldflags "([^"]*)"`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("no -ldflags in the Dockerfile's go build")
	}
	const ver, commit = "v0.0.0-dockerfile-test", "0123456789abcdef0123456789abcdef01234567"
	ldflags := strings.NewReplacer("${VERSION}", ver, "${COMMIT}", commit).Replace(m[1])
	bin := filepath.Join(t.TempDir(), "mm2go")
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "../cmd/mm2go").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags %q: %v\n%s", ldflags, err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("mm2go version --json: %v", err)
	}
	var got struct{ Version, Commit string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("mm2go version --json printed %q: %v", out, err)
	}
	if got.Version != ver || got.Commit != commit {
		t.Fatalf("mm2go version --json = %s; want version %s and commit %s", out, ver, commit)
	}
}

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// TestExamples_YAMLParses parses every YAML file under examples/.
func TestExamples_YAMLParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir("../examples", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
			yamlDocs(t, path)
			n++
		}
		return nil
	})
	if err != nil || n < 2 {
		t.Fatalf("walked examples/: %d YAML files, %v", n, err)
	}
}

// get walks a parsed YAML document: get(doc, "spec", "template", 0, "name").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// TestExamples_Kubernetes checks the Kubernetes example holds together: each
// object has a kind and a name; the flow file in the ConfigMap is a valid
// flow file whose PEM files the projected volume provides; the worker's
// --config is where the volume puts the file; the probes and the Prometheus
// annotations name the port the worker serves on.
func TestExamples_Kubernetes(t *testing.T) {
	docs := yamlDocs(t, "../examples/kubernetes/mm2go.yaml")
	byKind := map[string]map[string]any{}
	for i, d := range docs {
		kind, _ := d["kind"].(string)
		name, _ := get(d, "metadata", "name").(string)
		if kind == "" || name == "" || d["apiVersion"] == nil {
			t.Fatalf("document %d has no apiVersion, kind or metadata.name", i+1)
		}
		byKind[kind] = d
	}
	for _, k := range []string{"ConfigMap", "Secret", "Deployment", "PodDisruptionBudget", "Service"} {
		if byKind[k] == nil {
			t.Fatalf("no %s in the example", k)
		}
	}
	dep := byKind["Deployment"]
	if r, _ := get(dep, "spec", "replicas").(int); r != 3 {
		t.Errorf("replicas = %v, want 3", get(dep, "spec", "replicas"))
	}
	pod := get(dep, "spec", "template")
	c := get(pod, "spec", "containers", 0)
	var args []string
	for _, a := range get(c, "args").([]any) {
		args = append(args, a.(string))
	}
	flag := func(name string) string {
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v
			}
		}
		t.Fatalf("the worker has no --%s: %v", name, args)
		return ""
	}
	if args[0] != "worker" {
		t.Fatalf("args %v do not run the worker", args)
	}
	config, httpAddr := flag("config"), flag("http-addr")
	port := strings.TrimPrefix(httpAddr, ":")

	// The volume: ConfigMap keys and Secret items under the mount path.
	mount := get(c, "volumeMounts", 0, "mountPath").(string)
	files := map[string]string{} // path in the container -> content
	cm, sec := byKind["ConfigMap"], byKind["Secret"]
	for _, src := range get(pod, "spec", "volumes", 0, "projected", "sources").([]any) {
		if n := get(src, "configMap", "name"); n != nil {
			if n != get(cm, "metadata", "name") {
				t.Errorf("the volume takes ConfigMap %v, the example defines %v", n, get(cm, "metadata", "name"))
			}
			for k, v := range get(cm, "data").(map[string]any) {
				files[mount+"/"+k] = v.(string)
			}
		}
		if n := get(src, "secret", "name"); n != nil {
			if n != get(sec, "metadata", "name") {
				t.Errorf("the volume takes Secret %v, the example defines %v", n, get(sec, "metadata", "name"))
			}
			for _, it := range get(src, "secret", "items").([]any) {
				key := get(it, "key").(string)
				v, ok := get(sec, "stringData", key).(string)
				if !ok {
					t.Errorf("the volume takes key %s, which Secret %v lacks", key, n)
				}
				files[mount+"/"+get(it, "path").(string)] = v
			}
		}
	}
	flowFile, ok := files[config]
	if !ok {
		t.Fatalf("--config=%s is not a file of the volume (it has %v)", config, keys(files))
	}
	f, err := flows.Parse([]byte(flowFile), flows.FormatYAML)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		t.Fatalf("the ConfigMap's flow file: %v", err)
	}
	if _, err := f.Expand(); err != nil {
		t.Fatalf("the ConfigMap's flow file: %v", err)
	}
	for alias, cl := range f.Clusters {
		if cl.TLS == nil {
			continue
		}
		for _, p := range []string{cl.TLS.CAFile, cl.TLS.CertFile, cl.TLS.KeyFile} {
			if _, ok := files[p]; p != "" && !ok {
				t.Errorf("cluster %s reads %s, which the volume does not provide", alias, p)
			}
		}
	}

	// Probes and scraping on the port the worker listens on.
	var portName string
	for _, p := range get(c, "ports").([]any) {
		if v, _ := get(p, "containerPort").(int); strings.TrimPrefix(httpAddr, ":") == strconv.Itoa(v) {
			portName, _ = get(p, "name").(string)
		}
	}
	if portName == "" {
		t.Fatalf("no container port for --http-addr=%s", httpAddr)
	}
	for probe, path := range map[string]string{"livenessProbe": "/health/live", "readinessProbe": "/health"} {
		if get(c, probe, "httpGet", "path") != path || get(c, probe, "httpGet", "port") != portName {
			t.Errorf("%s = %v, want GET %s on port %s", probe, get(c, probe), path, portName)
		}
	}
	// The REST API listens on every address of the pod: it needs the
	// token, from the Secret, and forwards to the pods' addresses.
	var tokenFrom, podIP any
	for _, e := range get(c, "env").([]any) {
		switch get(e, "name") {
		case "MM2GO_HTTP_TOKEN":
			tokenFrom = get(e, "valueFrom", "secretKeyRef")
		case "POD_IP":
			podIP = get(e, "valueFrom", "fieldRef", "fieldPath")
		}
	}
	if tokenFrom == nil || get(tokenFrom, "name") != get(sec, "metadata", "name") || get(sec, "stringData", get(tokenFrom, "key").(string)) == nil {
		t.Errorf("MM2GO_HTTP_TOKEN = %v, want a key of Secret %v", tokenFrom, get(sec, "metadata", "name"))
	}
	if podIP != "status.podIP" || flag("http-advertised-url") != "http://$(POD_IP):"+port {
		t.Errorf("the advertised URL is %q with POD_IP from %v, want http://$(POD_IP):%s", flag("http-advertised-url"), podIP, port)
	}
	ann := get(pod, "metadata", "annotations").(map[string]any)
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("Prometheus annotations %v do not point at :%s/metrics", ann, port)
	}
	if get(pod, "spec", "securityContext", "runAsNonRoot") != true || get(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Errorf("the pod may run as root or write its root file system")
	}
	if get(c, "resources", "requests", "memory") == nil || get(c, "resources", "limits", "memory") == nil {
		t.Errorf("no memory request and limit")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestExamples_SystemdUnit checks the unit with systemd's own tools, when
// they are installed: it loads (systemd-analyze verify) and its exposure
// is at most 2.0 of 10 (systemd-analyze security).
func TestExamples_SystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("../examples/systemd/mm2go.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/mm2go worker ")) {
		t.Fatalf("the unit does not start /usr/local/bin/mm2go worker")
	}
	// verify wants ExecStart's binary to exist: point it at any
	// executable.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mm2go.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/mm2go"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for mm2go.service: (\d+\.\d)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	if level, err := strconv.ParseFloat(string(m[1]), 64); err != nil || level > 2.0 {
		t.Errorf("exposure level %s, want at most 2.0", m[1])
	}
}
