package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate_JSONReadable checks that --json prints flow names as a person
// writes them ("A->B", not "A-\u003eB") and stays valid JSON a program reads
// back to the same names.
func TestValidate_JSONReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mm2.properties")
	props := "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:19092\nB.bootstrap.servers = 127.0.0.1:29092\nA->B.enabled = true\n"
	if err := os.WriteFile(path, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runValidate(context.Background(), []string{"--config", path, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("validate --json: exit %d, stderr %q", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"A->B"`) || strings.Contains(stdout.String(), `\u003e`) {
		t.Fatalf("flow names escaped in the JSON output:\n%s", stdout.String())
	}
	var res struct {
		EnabledFlows []string `json:"enabled_flows"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if len(res.EnabledFlows) != 1 || res.EnabledFlows[0] != "A->B" {
		t.Fatalf("enabled_flows = %q, want [A->B]", res.EnabledFlows)
	}
}
