package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Worker is an `mm2go worker` process. Its log (level info, debug with
// MM2GO_TEST_DEBUG set) is in a file of the test; the last lines of it are
// printed if the test fails.
type Worker struct {
	t      testing.TB
	proc   *process
	config string
}

var workerSeq atomic.Int64

// StartWorker starts `mm2go worker --config config` with extra flags; the
// process is killed at the end of the test if it still runs.
func StartWorker(t testing.TB, config string, flags ...string) *Worker {
	t.Helper()
	bin, _ := Binaries(t)
	level := "info"
	if os.Getenv("MM2GO_TEST_DEBUG") != "" {
		level = "debug"
	}
	n := workerSeq.Add(1)
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("worker-%d.log", n))
	args := append([]string{bin, "worker", "--config", config, "--log-level", level}, flags...)
	p, err := startProcess(fmt.Sprintf("worker %d", n), logPath, args...)
	if err != nil {
		t.Fatal(err)
	}
	w := &Worker{t: t, proc: p, config: config}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of worker %d (%s):\n%s", n, logPath, tail(p.output(), 40))
		}
		p.kill()
		keepLog(t, logPath, fmt.Sprintf("worker-%d.log", n))
	})
	return w
}

// Kill kills the worker with SIGKILL (no flush, no commit) and waits.
func (w *Worker) Kill() { w.proc.kill() }

// Signal sends sig to the worker.
func (w *Worker) Signal(sig syscall.Signal) { w.proc.signal(sig) }

// Running reports whether the worker process has not exited.
func (w *Worker) Running() bool { return w.proc.running() }

// Exited is closed when the worker process has exited.
func (w *Worker) Exited() <-chan struct{} { return w.proc.exited }

// WaitExit waits up to within for the worker to exit and returns its exit
// code (-1 if a signal killed it) and when it exited; ok is false if it was
// still running.
func (w *Worker) WaitExit(within time.Duration) (code int, at time.Time, ok bool) {
	if !w.proc.wait(within) {
		return 0, time.Time{}, false
	}
	return w.proc.exitCode(), w.proc.endedAt, true
}

// Stop stops the worker with SIGTERM and waits up to within for it to
// exit. It returns an error, with the end of the log, if the worker did not
// exit in time (it is then killed) or exited with a non-zero code.
func (w *Worker) Stop(within time.Duration) error {
	w.proc.signal(syscall.SIGTERM)
	code, _, ok := w.WaitExit(within)
	if !ok {
		w.proc.kill()
		return fmt.Errorf("worker did not stop within %v of SIGTERM:\n%s", within, tail(w.Log(), 40))
	}
	if code != 0 {
		return fmt.Errorf("worker exited with code %d after SIGTERM:\n%s", code, tail(w.Log(), 40))
	}
	return nil
}

// Log is the worker's output so far.
func (w *Worker) Log() string { return w.proc.output() }

// WaitLog waits until the worker's log holds substr; the test fails if
// within passes or the worker exits first.
func (w *Worker) WaitLog(substr string, within time.Duration) {
	w.t.Helper()
	w.proc.waitOutput(w.t, 0, substr, within)
}
