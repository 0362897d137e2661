package connect

import "time"

// SetGroupView makes v the worker's view of its group, as RunGroup does:
// tests of the REST API's group paths use a fake one.
func SetGroupView(w *Worker, v GroupView) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.view = v
}

// SetFirstTaskRestart sets the first step of failed tasks' restart backoff
// (100ms by default; it doubles up to RetryBackoffMax).
func SetFirstTaskRestart(cfg *WorkerConfig, d time.Duration) { cfg.firstTaskRestart = d }
