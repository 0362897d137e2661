package policy

import "testing"

func TestIsCycle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      ReplicationPolicy
		topic  string
		target string
		want   bool
	}{
		{"local", Default{}, "t", "B", false},
		{"from A", Default{}, "A.t", "B", false},
		{"back to B", Default{}, "B.t", "B", true},
		{"via C back to B", Default{}, "C.B.t", "B", true},
		{"via C and A back to B", Default{}, "C.A.B.t", "B", true},
		{"A then C", Default{}, "C.A.t", "B", false},
		{"empty source", Default{}, ".t", "B", false},
		{"empty source is target", Default{}, ".t", "", true},
		{"not remote", Default{}, "B.", "B", false},
		{"underscore back to B", Default{Separator: "_"}, "C_B_t", "B", true},
		{"underscore dotted", Default{Separator: "_"}, "C_B.t", "B", false},
		{"dashes back to B", Default{Separator: "--"}, "B--t", "B", true},
		{"heartbeats back to B", Default{}, "A.B.heartbeats", "B", true},
		{"identity local", Identity{SourceClusterAlias: "A"}, "t", "B", false},
		{"identity dotted", Identity{SourceClusterAlias: "A"}, "B.t", "B", false},
		{"identity no alias", Identity{}, "t", "B", false},
		{"identity alias is target", Identity{SourceClusterAlias: "B"}, "t", "B", true},
		{"identity heartbeats back to B", Identity{SourceClusterAlias: "A"}, "B.heartbeats", "B", true},
		{"identity heartbeats via C back to B", Identity{SourceClusterAlias: "A"}, "C.B.heartbeats", "B", true},
		{"identity heartbeats from A", Identity{SourceClusterAlias: "A"}, "A.heartbeats", "B", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsCycle(tc.p, tc.topic, tc.target); got != tc.want {
				t.Errorf("IsCycle(%+v, %q, %q) = %v, want %v", tc.p, tc.topic, tc.target, got, tc.want)
			}
		})
	}
}

// loopPolicy is a broken custom policy whose upstream names go round in a circle of n names
// ("0", "1", ..., "n-1", "0", ...), each attributed to cluster "X<i>".
type loopPolicy struct {
	Default
	n int
}

func (l loopPolicy) TopicSource(topic string) (string, bool) { return "X" + topic, true }

func (l loopPolicy) UpstreamTopic(topic string) (string, bool) {
	var i int
	for _, c := range topic {
		i = i*10 + int(c-'0')
	}
	return itoa((i + 1) % l.n), true
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestIsCycle_LoopingPolicyTerminates(t *testing.T) {
	for _, n := range []int{2, 3, trackLoopsAfter, trackLoopsAfter + 1, 50} {
		p := loopPolicy{n: n}
		if IsCycle(p, "0", "B") {
			t.Errorf("IsCycle(loop of %d, 0, B) = true, want false", n)
		}
		last := "X" + itoa(n-1)
		if !IsCycle(p, "0", last) {
			t.Errorf("IsCycle(loop of %d, 0, %s) = false, want true", n, last)
		}
	}
}

func TestShouldReplicate(t *testing.T) {
	defaults, err := NewTopicFilter(DefaultTopicsInclude, DefaultTopicsExclude)
	if err != nil {
		t.Fatal(err)
	}
	ordersOnly, err := NewTopicFilter("orders", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		p          ReplicationPolicy
		f          *TopicFilter
		topic      string
		heartbeats bool
		want       bool
	}{
		{"local topic", Default{}, defaults, "orders", true, true},
		{"remote from A", Default{}, defaults, "A.orders", true, true},
		{"cycle", Default{}, defaults, "B.orders", true, false},
		{"two hop cycle", Default{}, defaults, "C.B.orders", true, false},
		{"consumer offsets", Default{}, defaults, "__consumer_offsets", true, false},
		{"connect offsets", Default{}, defaults, "mm2-offsets.A.internal", true, false},
		{"checkpoints", Default{}, defaults, "A.checkpoints.internal", true, false},
		{"offset syncs", Default{}, defaults, "mm2-offset-syncs.B.internal", true, false},
		{"replica", Default{}, defaults, "x.replica", true, false},
		{"filtered out", Default{}, ordersOnly, "payments", true, false},
		{"filter match", Default{}, ordersOnly, "orders", true, true},
		{"heartbeats despite filter", Default{}, ordersOnly, "heartbeats", true, true},
		{"remote heartbeats despite filter", Default{}, ordersOnly, "A.heartbeats", true, true},
		{"heartbeats replication off", Default{}, ordersOnly, "heartbeats", false, false},
		{"heartbeats replication off, filter accepts", Default{}, defaults, "heartbeats", false, true},
		{"heartbeats cycle", Default{}, ordersOnly, "B.heartbeats", true, false},
		{"nil filter", Default{}, nil, "orders", true, false},
		{"nil filter heartbeats", Default{}, nil, "A.heartbeats", true, true},
		// Internal topics never replicate, even when the filter lets them through.
		{"internal despite filter", Default{}, mustTopicFilter(t, ".*", ""), "__consumer_offsets", true, false},
		{"dot topic despite filter", Default{}, mustTopicFilter(t, ".*", ""), ".t", true, false},
		{"identity", Identity{SourceClusterAlias: "A"}, defaults, "orders", true, true},
		{"identity dotted name", Identity{SourceClusterAlias: "A"}, defaults, "B.orders", true, true},
		{"identity heartbeats cycle", Identity{SourceClusterAlias: "A"}, defaults, "B.heartbeats", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShouldReplicate(tc.p, tc.f, tc.topic, "B", tc.heartbeats); got != tc.want {
				t.Errorf("ShouldReplicate(%+v, %q, B, %v) = %v, want %v", tc.p, tc.topic, tc.heartbeats, got, tc.want)
			}
		})
	}
}

func mustTopicFilter(t *testing.T, include, exclude string) *TopicFilter {
	t.Helper()
	f, err := NewTopicFilter(include, exclude)
	if err != nil {
		t.Fatalf("NewTopicFilter(%q, %q): %v", include, exclude, err)
	}
	return f
}
