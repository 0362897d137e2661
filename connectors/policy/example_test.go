package policy_test

import (
	"fmt"

	"github.com/mm2go/mm2go/connectors/policy"
)

// Example shows the source connector of a flow A->B deciding which of A's topics to replicate, and
// under which names.
func Example() {
	props := map[string]string{
		"source.cluster.alias": "A",
		"target.cluster.alias": "B",
		"topics.exclude":       `.*[\-\.]internal, .*\.replica, __.*, scratch-.*`,
	}
	p, err := policy.FromProps(props)
	if err != nil {
		panic(err)
	}
	filters, err := policy.FiltersFromProps(props)
	if err != nil {
		panic(err)
	}
	for _, topic := range []string{"orders", "C.payments", "B.orders", "scratch-1", "__consumer_offsets", "heartbeats"} {
		if policy.ShouldReplicate(p, filters.Topics, topic, "B", true) {
			fmt.Printf("%s -> %s\n", topic, p.FormatRemoteTopic("A", topic))
		} else {
			fmt.Printf("%s skipped\n", topic)
		}
	}
	fmt.Println(p.CheckpointsTopic("A"), p.OffsetSyncsTopic("B"))
	// Output:
	// orders -> A.orders
	// C.payments -> A.C.payments
	// B.orders skipped
	// scratch-1 skipped
	// __consumer_offsets skipped
	// heartbeats -> A.heartbeats
	// A.checkpoints.internal mm2-offset-syncs.B.internal
}

// ExampleNewTopicFilter shows a Java-only regular expression being rejected.
func ExampleNewTopicFilter() {
	_, err := policy.NewTopicFilter("orders, (?!test).*", policy.DefaultTopicsExclude)
	fmt.Println(err)
	// Output:
	// compile topics item "(?!test).*": error parsing regexp: invalid or unsupported Perl syntax: `(?!` (Go RE2 regular expressions have no look-around, backreferences, atomic groups or possessive quantifiers)
}
