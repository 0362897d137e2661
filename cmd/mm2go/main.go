// Command mm2go replicates Apache Kafka topics, consumer-group offsets and
// metadata between clusters, as a drop-in peer of MirrorMaker 2.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal starts a graceful stop, restore the default
	// handling: a second Ctrl-C or SIGTERM ends the process at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
