package group

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Placement is where a group of workers meets: the group id, and the alias
// of the cluster whose coordinator runs the group.
type Placement struct {
	ID      string
	Cluster string
}

// DefaultID returns the group id of workers that serve clusters when the
// flow file sets none: "mm2go-" and the first 12 hex digits of the SHA-256
// of the sorted, de-duplicated aliases. It depends on the aliases only, so
// it stays the same when settings, topics or flows change; workers started
// with different --clusters lists get different groups.
func DefaultID(clusters []string) string {
	b, _ := json.Marshal(sortedUnique(clusters)) // strings: cannot fail
	sum := sha256.Sum256(b)
	return "mm2go-" + hex.EncodeToString(sum[:])[:12]
}

// Place returns the placement of a worker's group.
//
// clusters are the aliases that identify the deployment: the --clusters
// list when the worker was started with one, else every cluster of the flow
// file. targets are the target aliases of the enabled flows the worker
// runs. id and cluster are the operator's overrides (mm2go.group.id and
// mm2go.group.cluster), "" when not set.
//
// The default id is DefaultID(clusters). The default cluster is the first
// of targets in sorted order: MM2's dedicated mode keeps each flow's
// group on its target, and a worker that serves several targets needs one
// of them, picked the same way by every worker. Changing which cluster
// that is (adding a flow to a target that sorts first, or a cluster to the
// file) moves the group: workers with the old file and workers with the
// new one would then form two groups. Pin the id and the cluster before
// such a rollout, or stop every worker first.
func Place(clusters, targets []string, id, cluster string) (Placement, error) {
	var errs []error
	if id != "" && strings.TrimSpace(id) != id {
		errs = append(errs, fmt.Errorf("group id %q begins or ends with spaces", id))
	}
	known := sortedUnique(append(slices.Clone(clusters), targets...))
	if cluster != "" && !slices.Contains(known, cluster) {
		errs = append(errs, fmt.Errorf("group cluster %q is not a cluster this worker serves (%s)", cluster, strings.Join(known, ", ")))
	}
	if id == "" && len(clusters) == 0 {
		errs = append(errs, errors.New("no clusters to derive a group id from: set the group id"))
	}
	if cluster == "" && len(targets) == 0 {
		errs = append(errs, errors.New("no enabled flow targets a cluster this worker serves, so no cluster to host the worker group: set the group cluster"))
	}
	if len(errs) > 0 {
		return Placement{}, errors.Join(errs...)
	}
	p := Placement{ID: id, Cluster: cluster}
	if p.ID == "" {
		p.ID = DefaultID(clusters)
	}
	if p.Cluster == "" {
		p.Cluster = sortedUnique(targets)[0]
	}
	return p, nil
}

// DefaultWorkerID names a worker: the host:port its REST API listens on
// (the host name when it listens on every address), or, without a REST
// listener, the host name and process id ("host/1234").
func DefaultWorkerID(restAddr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	if restAddr == "" {
		return host + "/" + strconv.Itoa(os.Getpid())
	}
	h, port, err := net.SplitHostPort(restAddr)
	if err != nil {
		return restAddr
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = host
	}
	return net.JoinHostPort(h, port)
}

// Hash returns the SHA-256, in hex, of v's JSON encoding: a configuration
// fingerprint for Fingerprint.Hash. Maps are encoded with sorted keys, so
// equal values hash equally.
func Hash(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("hash configuration: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
