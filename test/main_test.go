package test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// TestMain fails the run if a test leaves goroutines behind: every worker,
// client and fake cluster a test starts must be stopped by its end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { harness.RemoveBinaries() }))
}
