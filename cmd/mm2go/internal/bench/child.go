package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a copier under test running as child processes of the harness:
// one process, or two joined by a pipe (kcat -C | kcat -P). Running copiers
// as children keeps their CPU seconds and RSS apart from the fake brokers,
// which stay in the harness process.
type child struct {
	name string
	cmds []*exec.Cmd
	log  *os.File

	// signalExitOK: the processes' exit status after SIGTERM means nothing
	// (kcat); an mm2go child exits 0 after a graceful stop.
	signalExitOK bool
	// httpAddr is the worker's --http-addr, when it was given one.
	httpAddr string

	started time.Time
	exited  chan struct{} // closed when every process has exited
	endedAt time.Time     // when the last process exited; read after exited
	waitErr error         // every process's exit error; read after exited

	mu   sync.Mutex // guards peak
	peak []int64    // highest VmHWM seen, per process
}

// startChild starts argvs[0] (and argvs[1] reading argvs[0]'s stdout, for a
// pipe) with env added to the harness's environment, writing their stderr
// (and a lone process's stdout) to logPath.
func startChild(name, logPath string, env []string, argvs ...[]string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create copier log: %w", err)
	}
	c := &child{name: name, log: logf, exited: make(chan struct{}), peak: make([]int64, len(argvs))}
	for _, argv := range argvs {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = logf, logf
		c.cmds = append(c.cmds, cmd)
	}
	var pr, pw *os.File
	if len(c.cmds) == 2 {
		if pr, pw, err = os.Pipe(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("pipe between copier processes: %w", err)
		}
		c.cmds[0].Stdout, c.cmds[1].Stdin = pw, pr
	}
	c.started = time.Now()
	for i, cmd := range c.cmds {
		if err := cmd.Start(); err != nil {
			for _, prev := range c.cmds[:i] {
				_ = prev.Process.Kill()
				_ = prev.Wait()
			}
			if pr != nil {
				pr.Close()
				pw.Close()
			}
			logf.Close()
			return nil, fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
		}
	}
	if pr != nil { // the children hold their own ends now
		pr.Close()
		pw.Close()
	}
	go c.wait()
	return c, nil
}

func (c *child) wait() {
	var errs []error
	for _, cmd := range c.cmds {
		if err := cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cmd.Args[0], err))
		}
	}
	c.waitErr = errors.Join(errs...)
	c.endedAt = time.Now()
	c.log.Close()
	close(c.exited)
}

// running reports whether any process of the copier still runs.
func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// exitedAt returns when the last process exited; zero while one runs.
func (c *child) exitedAt() time.Time {
	select {
	case <-c.exited:
		return c.endedAt
	default:
		return time.Time{}
	}
}

// sample reads each process's peak RSS so far. VmHWM only grows, so the
// last sample before a process exits is its peak while copying.
func (c *child) sample() {
	for i, cmd := range c.cmds {
		peak, _, err := procMemory(cmd.Process.Pid)
		if err != nil {
			continue // exited (or a zombie) since the last sample
		}
		c.mu.Lock()
		c.peak[i] = max(c.peak[i], peak)
		c.mu.Unlock()
	}
}

// rss returns the copier's current RSS, summed over its processes.
func (c *child) rss() int64 {
	var n int64
	for _, cmd := range c.cmds {
		if _, cur, err := procMemory(cmd.Process.Pid); err == nil {
			n += cur
		}
	}
	return n
}

// peakRSS returns the sum of the processes' peak RSS.
func (c *child) peakRSS() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, p := range c.peak {
		n += p
	}
	return n
}

// stop asks every process still running to stop gracefully (SIGTERM: the
// mm2go children flush, commit and exit 0) and kills what is left after
// grace. It returns the copier's CPU time (user+system, summed over its
// processes, from rusage) and an error if a process failed: exited with an
// error before it was asked to stop, or did not stop in time.
func (c *child) stop(grace time.Duration) (time.Duration, error) {
	c.sample()
	askedToStop := c.running()
	for _, cmd := range c.cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM) // fails only if it has exited
	}
	var killed bool
	select {
	case <-c.exited:
	case <-time.After(grace):
		killed = true
		for _, cmd := range c.cmds {
			_ = cmd.Process.Kill()
		}
		<-c.exited
	}
	var cpu time.Duration
	for _, cmd := range c.cmds {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu += rusageCPU(ru)
		}
	}
	switch {
	case killed:
		return cpu, fmt.Errorf("copier %s did not stop within %s of SIGTERM; killed (log: %s)", c.name, grace, c.log.Name())
	case c.waitErr != nil && (!askedToStop || !c.signalExitOK):
		return cpu, fmt.Errorf("copier %s: %w (log: %s)", c.name, c.waitErr, c.log.Name())
	}
	return cpu, nil
}
