// Command kfakebroker runs one franz-go kfake broker as its own process, so
// that end-to-end tests can kill a cluster the way a machine or a data
// centre dies (SIGKILL: no clean shutdown, connections refused at once) and
// bring it back from its data directory. It prints "listening <addr>" once
// it accepts connections and runs until SIGINT or SIGTERM.
//
//	kfakebroker --port 9092 --id A --data-dir /tmp/a
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "loopback port to listen on (0: any free port)")
	id := flag.String("id", "kfake", "cluster id")
	dataDir := flag.String("data-dir", "", "persist the cluster's state there and reload it at start (empty: in memory only)")
	flag.Parse()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ClusterID(*id), kfake.Ports(*port)}
	if *dataDir != "" {
		// Every write synced: a SIGKILL loses nothing acknowledged.
		opts = append(opts, kfake.DataDir(*dataDir), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakebroker:", err)
		os.Exit(1)
	}
	fmt.Println("listening", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}
