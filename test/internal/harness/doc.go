// Package harness runs mm2go end to end with separate processes, for the
// crash tests of package test and the fault suite of test/fault:
//
//   - Binaries builds `mm2go` and the kfake broker command once per test
//     binary run;
//   - Broker is a kfake broker process with a data directory, stopped with
//     SIGTERM or SIGKILL and started again on the same port and data;
//   - Worker is an `mm2go worker` process with its log in a file;
//   - Proxy is a fault-injecting TCP proxy (latency, connection resets, a
//     black hole) that a broker advertises as its own address, so that the
//     worker's every connection to that broker goes through it while the
//     test's own clients dial the broker directly;
//   - Producer writes numbered records (a unique key per record) at a steady
//     rate and keeps count of what the broker acknowledged;
//   - ReadTopic and Compare read a whole topic and compare it with another
//     record by record, per partition: missing, duplicated, out of order,
//     changed, with the exact offsets of each anomaly.
package harness
