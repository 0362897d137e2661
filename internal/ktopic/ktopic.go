// Package ktopic creates the compacted internal topics of mm2go and MM2 (the
// Connect offsets topic, heartbeats, checkpoints, offset syncs and the offset
// index) the way MM2 does: create if absent, never check or change a topic
// that exists, and go on when the cluster does not let us create topics,
// since an operator may have created them.
package ktopic

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Compacted describes one compacted internal topic.
type Compacted struct {
	Topic   string
	Cluster string // the cluster's alias, for messages
	// Partitions is the partition count of a new topic; 0 means 1.
	Partitions int32
	// ReplicationFactor of a new topic; -1 is the broker default.
	ReplicationFactor int16
	// ReplicationFactorKey is the setting an operator changes when the
	// cluster cannot meet the factor ("heartbeats.topic.replication.factor").
	ReplicationFactorKey string
}

// Outcome is what CreateCompacted found.
type Outcome int

const (
	Created Outcome = iota + 1 // the topic was created
	Existed                    // the topic already existed
	// Assumed: the cluster refused creation as unauthorized, or does not
	// support CreateTopics; as in MM2 the topic is assumed to exist.
	Assumed
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Existed:
		return "existed"
	case Assumed:
		return "assumed"
	}
	return "unknown"
}

// CreateCompacted creates c.Topic with cleanup.policy=compact unless it
// exists, with MM2's semantics (MirrorUtils.createCompactedTopic): an
// existing topic is left as it is, and TOPIC_AUTHORIZATION_FAILED,
// CLUSTER_AUTHORIZATION_FAILED and UNSUPPORTED_VERSION are not errors
// (Assumed, logged at Warn). A replication factor the cluster cannot meet is
// an error that names c.ReplicationFactorKey. Other errors are returned
// wrapped, so that the caller's retry classification (kerr.IsRetriable,
// timeouts) sees the cause.
func CreateCompacted(ctx context.Context, adm *kadm.Client, c Compacted, log hclog.Logger) (Outcome, error) {
	partitions := c.Partitions
	if partitions <= 0 {
		partitions = 1
	}
	resp, err := adm.CreateTopic(ctx, partitions, c.ReplicationFactor,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, c.Topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		log.Info("created topic", "topic", c.Topic, "cluster", c.Cluster, "partitions", partitions)
		return Created, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return Existed, nil
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.UnsupportedVersion):
		log.Warn("cannot create topic; assuming it exists", "topic", c.Topic, "cluster", c.Cluster, "error", err)
		return Assumed, nil
	case errors.Is(err, kerr.InvalidReplicationFactor):
		return 0, fmt.Errorf("create topic %s on %s with replication factor %d: %w (set %s to a factor the cluster can meet, or -1 for the broker default)",
			c.Topic, c.Cluster, c.ReplicationFactor, err, c.ReplicationFactorKey)
	default:
		return 0, fmt.Errorf("create topic %s on %s: %w", c.Topic, c.Cluster, err)
	}
}
