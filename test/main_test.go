package test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind: every worker,
// client and fake cluster a test starts must be stopped by its end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
