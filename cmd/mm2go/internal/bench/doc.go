// Package bench is the harness behind `mm2go bench`: it measures, in one run
// on the same machine, how fast mm2go copies records compared with the
// fastest plain franz-go program could, how long records take to get across,
// and how mm2go's memory and discovery time grow with partitions, topics and
// consumer groups.
//
// # What a run does
//
//  1. Starts a source cluster (franz-go's kfake, in this process, on a
//     loopback port) and loads Records records of Size bytes over
//     Partitions partitions.
//  2. Copies them with each copier into a fresh target cluster, in
//     alternating order over Rounds rounds: the raw copy loop (RawCopy, the
//     ceiling), an mm2go worker running the flow with default settings, the
//     same worker copying exactly once (mm2go-eos: exactly_once: true, its
//     copy counted in records whose source offsets committed, timed from its
//     first record on the target to the commit of its last, with
//     EOSInterval), and once a kcat -C | kcat -P pipe when kcat is
//     installed. Each copier is a
//     child process (`mm2go bench --role rawcopy|worker`, or kcat), so its
//     CPU seconds (rusage) and peak RSS (/proc VmHWM) are its own, not the
//     brokers'.
//  3. Offers stamped records at fixed loads (LatencyLoads, in percent of the
//     raw copy's records/s) with no copier (the floor: the probe reads the
//     source topic back), through the raw loop and through mm2go, and
//     measures the time from producing on the source to seeing the record on
//     the target: p50, p99, p99.9. Each copier runs once as its own process
//     and once in a fresh process with new brokers and the probe (`mm2go
//     bench --role latency`, SingleProcessLatency), which leaves out the
//     operating system's scheduling between busy processes.
//  4. Optionally (Scale) runs mm2go on 10,000 partitions, on 1,000 topics
//     created at once, and on 2,000 consumer groups x 50 partitions with
//     group offset sync on, and reports time to copy, RSS and the steady
//     checkpoint cycle (read from the worker's REST status).
//  5. Checks the results against mm2go's performance targets, and saves the
//     report as JSON, Markdown tables and an SVG plot.
//
// The fake brokers serve each cluster's requests on one goroutine, so on a
// small machine they bound the throughput of every copier: compare copiers
// within one run, never across machines or runs. They run with 256 KiB log
// segments: kfake grows a segment's bytes by doubling under a lock that
// every request of the cluster takes, and with larger segments that copy
// stalls every copier for 50 ms to 1 s.
package bench
