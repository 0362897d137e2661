package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestWorker_RESTRefusals: bad REST flags stop the worker before it
// starts, each with what to do.
func TestWorker_RESTRefusals(t *testing.T) {
	_, _, path := newMigrateClusters(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, httpsFile := newMigrateClusters(t, "listeners: https://127.0.0.1:0")
	for _, tc := range []struct {
		name string
		path string
		args []string
		env  string
		want string
	}{
		{"every address without a token", path, []string{"--http-addr", ":0"}, "", "--http-token-file"},
		{"every address, accepted", path, []string{"--http-addr", ":0", "--http-tls-cert", "x"}, "", "needs its key"},
		{"empty token", path, []string{"--http-addr", "127.0.0.1:0", "--http-token-file", empty}, "", "is empty"},
		{"missing token file", path, []string{"--http-addr", "127.0.0.1:0", "--http-token-file", empty + "x"}, "", "--http-token-file"},
		{"token twice", path, []string{"--http-addr", "127.0.0.1:0", "--http-token-file", empty}, "tok", "set one"},
		{"flags without a listener", path, []string{"--http-tls-cert", "c"}, "", "set --http-addr"},
		{"https listener without a certificate", httpsFile, nil, "", "set --http-tls-cert and --http-tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(tokenEnv, tc.env)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code, _, errOut := runCmd(t, ctx, append([]string{"worker", "--config", tc.path}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, exitUsage, tc.want)
			}
		})
	}
}

// TestWorker_RESTFromTheCommandLine: a worker whose listener comes from the
// flow file (MM2's listeners) and whose token comes from a file: 401
// without the token, Connect's answers with it, /health without it; the
// token is in no log line.
func TestWorker_RESTFromTheCommandLine(t *testing.T) {
	const token = "cli-token-never-logged"
	addr := freeAddr(t)
	_, _, path := newMigrateClusters(t, "listeners: http://"+addr)
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var werr syncBuffer
	go func() {
		done <- run(ctx, []string{"worker", "--config", path, "--http-token-file", tokFile, "--log-level", "trace"}, io.Discard, &werr)
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("worker exited %d:\n%s", code, werr.String())
			}
		case <-time.After(60 * time.Second):
			t.Error("worker did not stop")
		}
		if strings.Contains(werr.String(), token) {
			t.Errorf("the token is in the log")
		}
	}()
	call := func(tok, path string) (int, map[string]any, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m, string(b)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, _ := call("", "/health")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health did not answer 200 within 60s (last %d):\n%s", code, werr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, _ := call("", "/connectors"); code != 401 {
		t.Errorf("GET /connectors without the token = %d, want 401", code)
	}
	if code, root, body := call(token, "/"); code != 200 || root["kafka_cluster_id"] != "b" || root["version"] == nil {
		t.Errorf("GET / = %d %s, want the id of b, the group's cluster", code, body)
	}
	code, _, body := call(token, "/connectors")
	for _, name := range []string{"a->b.MirrorSourceConnector", "a->b.MirrorCheckpointConnector", "a->b.MirrorHeartbeatConnector", "b->a.MirrorHeartbeatConnector"} {
		if code != 200 || !strings.Contains(body, `"`+name+`"`) {
			t.Errorf("GET /connectors = %d %s, want %s", code, body, name)
		}
	}
	code, _, body = call(token, "/connector-plugins")
	for _, c := range []string{"MirrorSourceConnector", "MirrorCheckpointConnector", "MirrorHeartbeatConnector"} {
		if code != 200 || !strings.Contains(body, `"org.apache.kafka.connect.mirror.`+c+`"`) {
			t.Errorf("GET /connector-plugins = %d %s, want %s", code, body, c)
		}
	}
	if code, st, body := call(token, "/connectors/a->b.MirrorSourceConnector/status"); code != 200 ||
		st["connector"].(map[string]any)["worker_id"] != addr {
		t.Errorf("status = %d %s, want worker_id %s", code, body, addr)
	}
	// mm2go status asks the worker with the token of a file, or of the
	// environment.
	statusWorker := func(args ...string) map[string]any {
		code, out, errOut := runCmd(t, context.Background(), append([]string{"status", "--config", path, "--json", "--worker", "http://" + addr}, args...)...)
		var res struct{ Flows []map[string]any }
		if code != exitOK || json.Unmarshal([]byte(out), &res) != nil || len(res.Flows) != 1 {
			t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
		}
		return res.Flows[0]["worker"].(map[string]any)
	}
	if w := statusWorker(); !strings.Contains(fmt.Sprint(w["error"]), "401") {
		t.Errorf("status without the token: worker %v, want the 401", w)
	}
	if w := statusWorker("--worker-token-file", tokFile); w["error"] != nil || w["state"] == "unknown" {
		t.Errorf("status with --worker-token-file: worker %v", w)
	}
	t.Setenv(tokenEnv, token)
	if w := statusWorker(); w["error"] != nil || w["state"] == "unknown" {
		t.Errorf("status with %s: worker %v", tokenEnv, w)
	}
}
