package fault

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// TestMain removes the binaries the harness built and fails the run if a
// scenario left goroutines behind.
func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinaries()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
