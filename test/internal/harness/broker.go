package harness

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BrokerConfig configures a Broker.
type BrokerConfig struct {
	// ClusterID is the cluster's id; also the broker's name in messages.
	ClusterID string
	// Proxy, if set, is what the broker advertises: every client that
	// bootstraps from Addr reaches the broker through it. The broker sets
	// the proxy's upstream once it listens.
	Proxy *Proxy
	// Configs are broker configs (kfake.BrokerConfigs).
	Configs map[string]string
}

// Broker is a one-broker kfake cluster running as its own process, with
// its data in a directory of the test. Stop and Kill end the process; Start
// runs it again on the same port and data directory.
//
// Tested kfake behaviour (TestBroker_*): after SIGTERM or SIGKILL a broker
// started again on its directory has its topics (same topic IDs), records,
// end offsets and committed group offsets. After SIGKILL it has lost the
// idempotent producers' sequence windows (Kafka rebuilds them from the log):
// a producer's retry of a batch the broker wrote but did not acknowledge
// before it died is written again.
type Broker struct {
	t      testing.TB
	cfg    BrokerConfig
	dir    string
	listen string // host:port the broker listens on, fixed after the first start
	port   int    // its port; 0 before the first start
	proc   *process
}

// StartBroker starts a broker process; it is killed at the end of the test.
func StartBroker(t testing.TB, cfg BrokerConfig) *Broker {
	t.Helper()
	b := &Broker{t: t, cfg: cfg, dir: t.TempDir()}
	t.Cleanup(func() {
		if b.proc != nil {
			b.proc.kill()
		}
		keepLog(t, filepath.Join(b.dir, "broker.log"), "broker-"+cfg.ClusterID+".log")
	})
	b.Start()
	return b
}

var listeningRE = regexp.MustCompile(`(?m)^listening (\S+)`)

// Start starts the broker process; the broker must not be running.
func (b *Broker) Start() {
	b.t.Helper()
	if b.proc != nil && b.proc.running() {
		b.t.Fatalf("broker %s: Start while running", b.cfg.ClusterID)
	}
	_, bin := Binaries(b.t)
	// No fsync per write: the tests kill processes, not machines, and the
	// page cache outlives a killed process.
	args := []string{bin, "-port", strconv.Itoa(b.port), "-data-dir", filepath.Join(b.dir, "data"), "-id", b.cfg.ClusterID,
		"-sync=false", "-log-level", "warn"}
	if b.cfg.Proxy != nil {
		args = append(args, "-advertise", b.cfg.Proxy.Addr())
	}
	var keys []string
	for k := range b.cfg.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-config", k+"="+b.cfg.Configs[k])
	}
	logPath := filepath.Join(b.dir, "broker.log")
	from := len(readFile(logPath))
	p, err := startProcess("broker "+b.cfg.ClusterID, logPath, args...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.proc = p
	end := p.waitOutput(b.t, from, "listening ", 60*time.Second)
	line := firstLine(p.output()[end-len("listening "):])
	m := listeningRE.FindStringSubmatch(line)
	if m == nil {
		b.t.Fatalf("broker %s: unexpected ready line %q", b.cfg.ClusterID, line)
	}
	b.listen = m[1]
	if _, port, err := net.SplitHostPort(b.listen); err == nil {
		b.port, _ = strconv.Atoi(port)
	}
	if b.cfg.Proxy != nil {
		b.cfg.Proxy.SetUpstream(b.listen)
	}
}

// Stop stops the broker with SIGTERM and waits for it to save its state and
// exit; the test fails if it does not within a minute or exits non-zero.
func (b *Broker) Stop() {
	b.t.Helper()
	b.proc.signal(syscall.SIGTERM)
	if !b.proc.wait(time.Minute) {
		b.proc.kill()
		b.t.Fatalf("broker %s did not stop within a minute of SIGTERM", b.cfg.ClusterID)
	}
	if code := b.proc.exitCode(); code != 0 {
		b.t.Fatalf("broker %s exited with %d after SIGTERM:\n%s", b.cfg.ClusterID, code, tail(b.proc.output(), 30))
	}
}

// Kill kills the broker with SIGKILL and waits for it.
func (b *Broker) Kill() { b.proc.kill() }

// Running reports whether the broker process is running.
func (b *Broker) Running() bool { return b.proc != nil && b.proc.running() }

// Addr is the address clients bootstrap from: the proxy's, if the broker is
// behind one.
func (b *Broker) Addr() string {
	if b.cfg.Proxy != nil {
		return b.cfg.Proxy.Addr()
	}
	return b.listen
}

// ListenAddr is the address the broker process listens on.
func (b *Broker) ListenAddr() string { return b.listen }

// ClusterID is the broker's cluster id.
func (b *Broker) ClusterID() string { return b.cfg.ClusterID }

// Log is the broker's output so far, across restarts.
func (b *Broker) Log() string { return readFile(filepath.Join(b.dir, "broker.log")) }

// Opts are client options that reach the broker directly, bypassing the
// proxy it advertises, so that the test's own producers and checks are not
// hit by the faults it injects.
func (b *Broker) Opts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(b.listen)}
	if b.cfg.Proxy != nil {
		adv, real := b.cfg.Proxy.Addr(), b.listen
		d := &net.Dialer{Timeout: 10 * time.Second}
		opts = append(opts, kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			if host == adv {
				host = real
			}
			return d.DialContext(ctx, network, host)
		}))
	}
	return opts
}

// Client returns a client that reaches the broker directly (see Opts); it
// is closed at the end of the test.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append(b.Opts(), opts...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}
