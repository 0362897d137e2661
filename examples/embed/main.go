// Command embed runs mm2go's worker inside a Go program: it loads a flow file
// (YAML or mm2.properties), runs its enabled flows until interrupted, and
// prints a status line every 10 seconds.
//
//	go run ./examples/embed --config examples/migrate/flows.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/flows"
)

func main() {
	config := flag.String("config", "flows.yaml", "flow file (YAML or mm2.properties)")
	flag.Parse()
	if err := run(*config); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(config string) error {
	f, err := flows.Load(config)
	if err != nil {
		return err
	}
	e, err := f.Expand() // validates first
	if err != nil {
		return err
	}
	cfg, specs, err := e.Plan()
	if err != nil {
		return err
	}
	reg := connect.NewRegistry()
	connectors.Register(reg)
	log := hclog.New(&hclog.LoggerOptions{Name: "embed", Level: hclog.Info})
	w := connect.NewWorker(cfg, connect.WithRegistry(reg), connect.WithLogger(log))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, cs := range w.Status() {
				var acked int64
				for _, ts := range cs.Tasks {
					acked += ts.RecordsAcked
				}
				fmt.Printf("%s->%s %s: %s, %d records copied\n", cs.Source, cs.Target, cs.Name, cs.State, acked)
			}
		}
	}()
	return w.Run(ctx, specs)
}
