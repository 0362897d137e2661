// Command kfakebroker runs one franz-go kfake broker as its own process, so
// that end-to-end tests can kill a cluster the way a machine or a data
// centre dies (SIGKILL: no clean shutdown, connections refused at once) and
// bring it back from its data directory: a broker started again on the same
// directory and port has its topics (same topic IDs), records and committed
// group offsets.
//
// A broker can advertise an address other than the one it listens on
// (-advertise), so that clients reach it through something in between, such
// as the fault-injecting proxy of test/internal/harness: Kafka clients dial
// the bootstrap address once and then the addresses the broker advertises in
// its metadata, so the proxy must be what the broker advertises.
//
// It prints "listening ADDR" (with " advertising ADDR" when -advertise is
// set) on stdout once it accepts connections. SIGTERM or SIGINT stops it
// gracefully (kfake saves its whole state, including idempotent producers'
// sequence windows); a second signal exits at once.
//
//	kfakebroker -port 9092 -id A -data-dir /tmp/a
//	kfakebroker -port 0 -id B -data-dir /tmp/b -advertise 127.0.0.1:9500 -sync=false
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

type configFlag map[string]string

func (f configFlag) String() string { return "" }

func (f configFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", s)
	}
	f[k] = v
	return nil
}

// advertisedListener is a listener whose Addr is the advertised address:
// kfake puts its listener's address in metadata and FindCoordinator answers.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

func main() {
	os.Exit(run())
}

func run() int {
	port := flag.Int("port", 0, "loopback port to listen on (0: any free port)")
	id := flag.String("id", "kfake", "cluster id")
	dataDir := flag.String("data-dir", "", "persist the cluster's state there and reload it at start (empty: in memory only)")
	sync := flag.Bool("sync", true, "with -data-dir, fsync every write; without it a killed process still loses nothing acknowledged (the page cache outlives it), a machine crash would")
	advertise := flag.String("advertise", "", "host:port to advertise in metadata (default: the listen address)")
	logLevel := flag.String("log-level", "none", "kfake log level on stderr: none, error, warn, info, debug")
	configs := configFlag{}
	flag.Var(configs, "config", "broker config key=value (repeatable)")
	flag.Parse()
	levels := map[string]kfake.LogLevel{"none": kfake.LogLevelNone, "error": kfake.LogLevelError,
		"warn": kfake.LogLevelWarn, "info": kfake.LogLevelInfo, "debug": kfake.LogLevelDebug}
	level, ok := levels[*logLevel]
	if !ok {
		fmt.Fprintf(os.Stderr, "kfakebroker: -log-level %q: want none, error, warn, info or debug\n", *logLevel)
		return 2
	}
	var adv net.Addr
	if *advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", *advertise)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kfakebroker: -advertise %q: %v\n", *advertise, err)
			return 2
		}
		adv = a
	}

	var bound string
	listenFn := func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
		if err != nil {
			return nil, err
		}
		bound = ln.Addr().String()
		if adv == nil {
			return ln, nil
		}
		return advertisedListener{Listener: ln, addr: adv}, nil
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID(*id),
		kfake.ListenFn(listenFn),
		kfake.WithLogger(kfake.BasicLogger(os.Stderr, level)),
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
		if *sync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if len(configs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(configs))
	}
	// Signals are caught before the broker starts, so that a SIGTERM sent
	// right after the ready line always stops it gracefully.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakebroker:", err)
		return 1
	}
	if adv != nil {
		fmt.Println("listening", bound, "advertising", adv)
	} else {
		fmt.Println("listening", bound)
	}

	<-sigs
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
		return 0
	case <-sigs:
		fmt.Fprintln(os.Stderr, "kfakebroker: second signal; exiting without saving")
		return 1
	}
}
