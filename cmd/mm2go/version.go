package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time, as the Dockerfile does:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/mm2go
//
// Without them the module version and the VCS stamp Go writes into the
// binary (go build in a git checkout: vcs.revision, vcs.time, vcs.modified)
// are used.
var (
	version = ""
	commit  = ""
)

// buildInfo says which mm2go this is.
type buildInfo struct {
	Version string `json:"version"`
	// Commit is the git commit it was built from; "" when unknown.
	Commit string `json:"commit"`
	// CommitTime is the commit's time (RFC 3339), from the VCS stamp.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified: built from a checkout with uncommitted changes.
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readBuildInfo() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return makeBuildInfo(version, commit, bi)
}

// makeBuildInfo prefers what -ldflags set, then the binary's build info.
func makeBuildInfo(version, commit string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				b.CommitTime = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

func (b buildInfo) String() string {
	c := "commit unknown"
	if b.Commit != "" {
		c = "commit " + b.Commit
		if len(b.Commit) > 12 {
			c = "commit " + b.Commit[:12]
		}
		if b.Modified {
			c += ", modified"
		}
	}
	return fmt.Sprintf("mm2go %s (%s; %s %s)", b.Version, c, b.Go, b.Platform)
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "version [--json]", stdout)
	asJSON := fs.Bool("json", false, "print JSON: version, commit, commit_time, modified, go, platform")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	b := readBuildInfo()
	if *asJSON {
		_ = writeJSON(stdout, b)
		return exitOK
	}
	fmt.Fprintln(stdout, b)
	return exitOK
}

// versionString is the version alone, for logs and the REST API.
func versionString() string { return readBuildInfo().Version }
