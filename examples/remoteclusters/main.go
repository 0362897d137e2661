// Command remoteclusters shows what MM2's heartbeats say about one cluster:
// which clusters replicate to it (directly or over several hops), how many
// hops away each is, and how fresh the newest heartbeat of every replication
// path is. It works the same on clusters mirrored by mm2go or by Java MM2,
// since both write the same heartbeats.
//
//	go run ./examples/remoteclusters -bootstrap-servers localhost:9092
//
// Flags choose the replication policy as mm2.properties does
// (replication.policy.class, replication.policy.separator and, for the
// identity policy, source.cluster.alias).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/offsets"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, reads the cluster and prints the report to stdout. It
// returns the exit code: 0 ok, 1 the cluster could not be read, 2 bad
// arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("remoteclusters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.String("bootstrap-servers", "localhost:9092", "comma-separated `host:port` list of the cluster's brokers")
	class := fs.String("policy", "DefaultReplicationPolicy", "replication.policy.class: DefaultReplicationPolicy or IdentityReplicationPolicy")
	separator := fs.String("separator", policy.DefaultSeparator, "replication.policy.separator")
	sourceAlias := fs.String("source-alias", "", "source.cluster.alias, which the identity policy needs")
	stale := fs.Duration("stale", 30*time.Second, "call a replication path stale when its newest heartbeat is older than this")
	timeout := fs.Duration("timeout", 30*time.Second, "give up reading the cluster after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "remoteclusters: unexpected arguments %q\n", fs.Args())
		return 2
	}
	props := map[string]string{
		policy.KeyReplicationPolicyClass:     *class,
		policy.KeyReplicationPolicySeparator: *separator,
	}
	if *sourceAlias != "" {
		props[policy.KeySourceClusterAlias] = *sourceAlias
	}
	pol, err := policy.FromProps(props)
	if err != nil {
		fmt.Fprintf(stderr, "remoteclusters: %v\n", err)
		return 2
	}
	var seeds []string
	for s := range strings.SplitSeq(*servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		fmt.Fprintln(stderr, "remoteclusters: -bootstrap-servers is empty")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := report(ctx, stdout, pol, seeds, *stale); err != nil {
		fmt.Fprintf(stderr, "remoteclusters: %v\n", err)
		return 1
	}
	return 0
}

// report prints upstream clusters with their hop counts, then the newest
// heartbeat of every replication path.
func report(ctx context.Context, w io.Writer, namer offsets.TopicNamer, seeds []string, stale time.Duration) error {
	mc, err := offsets.NewClient(namer, kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer mc.Close()
	upstream, err := mc.UpstreamClusters(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(upstream) == 0 {
		fmt.Fprintln(tw, "no upstream clusters: no replicated heartbeats topic on this cluster")
	} else {
		fmt.Fprintln(tw, "UPSTREAM\tHOPS")
	}
	for _, alias := range upstream {
		hops, err := mc.ReplicationHops(ctx, alias)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\n", alias, hops)
	}
	latest, stats, err := mc.LatestHeartbeats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw)
	if len(latest) == 0 {
		fmt.Fprintln(tw, "no heartbeats on this cluster")
	} else {
		fmt.Fprintln(tw, "TOPIC\tHERDER\tNEWEST HEARTBEAT\tAGE\tSTATE")
	}
	now := time.Now()
	for _, l := range latest {
		at := time.UnixMilli(l.Timestamp)
		age := now.Sub(at).Round(time.Millisecond)
		state := "alive"
		if age > stale {
			state = "stale"
		}
		fmt.Fprintf(tw, "%s\t%s->%s\t%s\t%v\t%s\n", l.Topic, l.SourceClusterAlias, l.TargetClusterAlias,
			at.UTC().Format(time.RFC3339Nano), age, state)
	}
	if stats.Skipped > 0 {
		fmt.Fprintf(tw, "\n%d of %d heartbeat records could not be decoded and were skipped\n", stats.Skipped, stats.Records)
	}
	return tw.Flush()
}
