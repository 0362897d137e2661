// Package fault is mm2go's fault suite: end-to-end scenarios in which
// `mm2go worker` processes copy between kfake broker processes while a
// producer writes numbered records, and faults hit them: the worker killed
// with SIGKILL, brokers restarted, the target down, a hung network (a proxy
// injecting latency, resets and a black hole), source topics deleted and
// re-created, a record the target refuses, partitions moving between tasks,
// SIGTERM while the network hangs. Each scenario ends by comparing the
// target with the source record by record and checks its bound on
// duplicates. The scenarios and their last measured results are in
// test/RELIABILITY.md.
//
// `go test ./test/fault/` runs the short version; MM2GO_FAULT=full runs the
// full one (test/fault/run-full.sh).
package fault
