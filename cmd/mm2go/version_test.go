package main

import (
	"context"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestMakeBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            buildInfo
		text            string
	}{
		{"ldflags win", "v1.2.3", "fedcba9876543210", stamped,
			buildInfo{Version: "v1.2.3", Commit: "fedcba9876543210", CommitTime: "2026-01-02T03:04:05Z", Modified: true},
			"mm2go v1.2.3 (commit fedcba987654, modified; "},
		{"VCS stamp of go build in a checkout", "", "", stamped,
			buildInfo{Version: "(devel)", Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: "2026-01-02T03:04:05Z", Modified: true},
			"mm2go (devel) (commit 0123456789ab, modified; "},
		{"go install of a tagged module", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}},
			buildInfo{Version: "v0.4.0"},
			"mm2go v0.4.0 (commit unknown; "},
		{"nothing known", "", "", nil, buildInfo{Version: "(devel)"}, "mm2go (devel) (commit unknown; "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Go, tc.want.Platform = runtime.Version(), platform
			got := makeBuildInfo(tc.version, tc.commit, tc.bi)
			if got != tc.want {
				t.Fatalf("makeBuildInfo = %+v, want %+v", got, tc.want)
			}
			if s := got.String(); !strings.HasPrefix(s, tc.text) || !strings.HasSuffix(s, runtime.Version()+" "+platform+")") {
				t.Fatalf("String() = %q, want %q... %s %s)", s, tc.text, runtime.Version(), platform)
			}
		})
	}
}

func TestRunVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v9.8.7", "abcdef0123456789"
	ctx := context.Background()
	code, out, _ := runCmd(t, ctx, "version")
	if code != exitOK || !strings.HasPrefix(out, "mm2go v9.8.7 (commit abcdef012345") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
	code, out, _ = runCmd(t, ctx, "version", "--json")
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); code != exitOK || err != nil {
		t.Fatalf("version --json: code %d, %v, output %q", code, err, out)
	}
	if b.Version != "v9.8.7" || b.Commit != "abcdef0123456789" || b.Go != runtime.Version() || b.Platform == "" {
		t.Fatalf("version --json = %+v", b)
	}
	if got := versionString(); got != "v9.8.7" {
		t.Fatalf("versionString() = %q", got)
	}
	if code, _, errOut := runCmd(t, ctx, "version", "--yaml"); code != exitUsage || !strings.Contains(errOut, "-yaml") {
		t.Fatalf("version --yaml: code %d, stderr %q", code, errOut)
	}
}
