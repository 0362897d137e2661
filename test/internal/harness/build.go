package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binaries returns the paths of the mm2go binary and the kfake broker
// command, building both the first time it is called in a test binary run.
// Call RemoveBinaries from TestMain after the tests.
//
// With MM2GO_FAULT_RACE=1 the worker is built with the race detector.
func Binaries(t testing.TB) (mm2go, broker string) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mm2go-harness")
		if buildErr != nil {
			return
		}
		workerFlags := []string{"build", "-o", filepath.Join(buildDir, "mm2go")}
		if os.Getenv("MM2GO_FAULT_RACE") == "1" {
			workerFlags = append(workerFlags, "-race")
		}
		for _, args := range [][]string{
			append(workerFlags, "github.com/mm2go/mm2go/cmd/mm2go"),
			{"build", "-o", filepath.Join(buildDir, "kfakebroker"), "github.com/mm2go/mm2go/test/internal/kfakebroker"},
		} {
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "mm2go"), filepath.Join(buildDir, "kfakebroker")
}

// RemoveBinaries deletes what Binaries built.
func RemoveBinaries() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}
