package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is a child process whose stdout and stderr go to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	exited  chan struct{} // closed when the process has exited
	waitErr error         // Wait's result, read after exited
	endedAt time.Time     // read after exited
}

// startProcess starts argv with its output in logPath (appended to, so that
// the log of a restarted process follows the previous one).
func startProcess(name, logPath string, argv ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child dies with the test binary, even when the test binary is
	// killed on a timeout and its cleanups never run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, log: logf, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		p.endedAt = time.Now()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig; it is a no-op once the process has exited.
func (p *process) signal(sig syscall.Signal) {
	if p.running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits up to within for the process to exit; false if it did not.
func (p *process) wait(within time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(within):
		return false
	}
}

// kill stops the process with SIGKILL and waits for it.
func (p *process) kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited
}

// exitCode is the process's exit code, -1 if a signal ended it.
func (p *process) exitCode() int {
	<-p.exited
	return p.cmd.ProcessState.ExitCode()
}

// output is everything the process (and the processes before it on the
// same log file) wrote so far.
func (p *process) output() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// waitOutput waits until the log holds substr after byte from; it fails
// the test if within passes or the process exits first. It returns the
// byte offset just past the first match.
func (p *process) waitOutput(t testing.TB, from int, substr string, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := p.output()
		if from <= len(out) {
			if i := strings.Index(out[from:], substr); i >= 0 {
				return from + i + len(substr)
			}
		}
		if !p.running() {
			t.Fatalf("%s exited (%v) before logging %q:\n%s", p.name, p.waitErr, substr, tail(p.output(), 60))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v:\n%s", p.name, substr, within, tail(p.output(), 60))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// readFile is the content of path, "" if it cannot be read.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// keepLog copies a process's log to the directory MM2GO_FAULT_LOGS names,
// if set, as <test name>.<name>, so that the logs of a run can be read after
// the test removed its temporary directory.
func keepLog(t testing.TB, path, name string) {
	dir := os.Getenv("MM2GO_FAULT_LOGS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("MM2GO_FAULT_LOGS: %v", err)
		return
	}
	test := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	if err := os.WriteFile(filepath.Join(dir, test+"."+name), []byte(readFile(path)), 0o644); err != nil {
		t.Logf("MM2GO_FAULT_LOGS: %v", err)
	}
}
