package flows

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// Plan turns the expanded file into what a connect.Worker runs: the
// clusters with their client options, and the connectors of every enabled
// flow, named as MM2 names them (the names are also the namespaces of the
// source offsets in the Connect offsets topic, so a worker resumes from what
// Java MM2 stored).
func (e *Expanded) Plan() (connect.WorkerConfig, []connect.ConnectorSpec, error) {
	cfg := connect.WorkerConfig{Clusters: make(map[string]connect.ClusterConfig, len(e.Clusters))}
	var errs []error
	for alias, c := range e.Clusters {
		opts, err := c.ClientOpts()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Clusters[alias] = connect.ClusterConfig{
			Alias: alias, Opts: opts.Common,
			ConsumerOpts: opts.Consumer, ProducerOpts: opts.Producer, AdminOpts: opts.Admin,
		}
	}
	var specs []connect.ConnectorSpec
	for _, fl := range e.Flows {
		if ms, ok := fl.Props["offset.flush.interval.ms"]; ok {
			n, err := strconv.ParseInt(ms, 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("%s: offset.flush.interval.ms: %q is not a positive number of milliseconds", fl.Name(), ms))
			} else if d := time.Duration(n) * time.Millisecond; cfg.OffsetFlushInterval == 0 || d < cfg.OffsetFlushInterval {
				// One worker-wide interval: the shortest asked for.
				cfg.OffsetFlushInterval = d
			}
		}
		for _, class := range flowConnectors {
			specs = append(specs, connect.ConnectorSpec{
				Name: class, Class: class, Source: fl.Source, Target: fl.Target,
				Props: connect.Props(fl.Props).Clone(),
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return connect.WorkerConfig{}, nil, err
	}
	return cfg, specs, nil
}

// flowConnectors are the connectors every enabled flow runs.
var flowConnectors = []string{connectors.ClassMirrorSource}
