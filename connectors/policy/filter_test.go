package policy

import (
	"errors"
	"reflect"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"
)

func TestSplitList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"\t\n", nil},
		{"a", []string{"a"}},
		{" a ", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{"a , b,\tc ", []string{"a", "b", "c"}},
		{"a b, c", []string{"a b", "c"}},
		{"a,", []string{"a", ""}},
		{",", []string{"", ""}},
		{"a,,b", []string{"a", "", "b"}},
		{DefaultTopicsExclude, []string{`.*[\-\.]internal`, `.*\.replica`, `__.*`}},
	} {
		if got := splitList(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTopicFilter_Defaults(t *testing.T) {
	f, err := NewTopicFilter(DefaultTopicsInclude, DefaultTopicsExclude)
	if err != nil {
		t.Fatalf("NewTopicFilter(defaults): %v", err)
	}
	for _, tc := range []struct {
		topic string
		want  bool
	}{
		{"orders", true},
		{"A.orders", true},
		{"heartbeats", true},
		{"A.heartbeats", true},
		{"internal", true},
		{"internals", true},
		{"__consumer_offsets", false},
		{"__transaction_state", false},
		{"mm2-offsets.A.internal", false},
		{"mm2-offset-syncs.B.internal", false},
		{"A.checkpoints.internal", false},
		{"connect-offsets-internal", false},
		{"x.replica", false},
		{"A.x.replica", false},
		{"x-replica", true},
		{"x.replicas", true},
		{"_single", true},
	} {
		if got := f.ShouldReplicateTopic(tc.topic); got != tc.want {
			t.Errorf("ShouldReplicateTopic(%q) = %v, want %v", tc.topic, got, tc.want)
		}
	}
}

func TestTopicFilter_ListSemantics(t *testing.T) {
	for _, tc := range []struct {
		name             string
		include, exclude string
		accept, reject   []string
	}{
		{"full match only", "orders", "", []string{"orders"}, []string{"orders2", "xorders", "A.orders"}},
		{"list of regexes", "orders, pay.*", "", []string{"orders", "payments", "pay"}, []string{"repay", "order"}},
		{"alternation inside item stays whole", "a|b, c", "", []string{"a", "b", "c"}, []string{"ab", "bc"}},
		{"anchors are harmless", "^orders$", "", []string{"orders"}, []string{"orders2"}},
		{"empty include matches nothing", "", "", nil, []string{"orders", ""}},
		{"blank include matches nothing", "  ", "", nil, []string{"orders"}},
		{"empty exclude excludes nothing", ".*", "", []string{"orders", "__consumer_offsets"}, nil},
		{"exclude wins", ".*", "secret.*", []string{"orders"}, []string{"secret", "secrets"}},
		{"trailing comma adds the empty name", "a,", "", []string{"a", ""}, []string{"b"}},
		{"case sensitive", "Orders", "", []string{"Orders"}, []string{"orders"}},
		{"inline flag", "(?i)orders", "", []string{"ORDERS", "orders"}, nil},
		// Java reads "\Qa" as the literal rest of the joined pattern "\Qa|b".
		{"unterminated quote", `\Qa, b`, "", []string{"a|b"}, []string{"a", "b"}},
		// Items are joined before compiling, as in Java, so parentheses may span items.
		{"group across items", "(a, b)", "", []string{"a", "b"}, []string{"(a", "b)"}},
		{"leftmost-longest needed", "a|ab", "", []string{"a", "ab"}, []string{"abc"}},
		{"prefix alternative", "ab, a", "", []string{"a", "ab"}, []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewTopicFilter(tc.include, tc.exclude)
			if err != nil {
				t.Fatalf("NewTopicFilter(%q, %q): %v", tc.include, tc.exclude, err)
			}
			for _, topic := range tc.accept {
				if !f.ShouldReplicateTopic(topic) {
					t.Errorf("ShouldReplicateTopic(%q) = false, want true", topic)
				}
			}
			for _, topic := range tc.reject {
				if f.ShouldReplicateTopic(topic) {
					t.Errorf("ShouldReplicateTopic(%q) = true, want false", topic)
				}
			}
		})
	}
}

func TestTopicFilter_NilAndZero(t *testing.T) {
	var nilFilter *TopicFilter
	if nilFilter.ShouldReplicateTopic("orders") {
		t.Error("(*TopicFilter)(nil).ShouldReplicateTopic(orders) = true, want false")
	}
	if (&TopicFilter{}).ShouldReplicateTopic("orders") {
		t.Error("TopicFilter{}.ShouldReplicateTopic(orders) = true, want false")
	}
	var nilGroups *GroupFilter
	if nilGroups.ShouldReplicateGroup("g") {
		t.Error("(*GroupFilter)(nil).ShouldReplicateGroup(g) = true, want false")
	}
	var nilProps *ConfigPropertyFilter
	if !nilProps.ShouldReplicateConfigProperty("retention.ms") {
		t.Error("(*ConfigPropertyFilter)(nil).ShouldReplicateConfigProperty(retention.ms) = false, want true")
	}
}

func TestGroupFilter_Defaults(t *testing.T) {
	f, err := NewGroupFilter(DefaultGroupsInclude, DefaultGroupsExclude)
	if err != nil {
		t.Fatalf("NewGroupFilter(defaults): %v", err)
	}
	for _, tc := range []struct {
		group string
		want  bool
	}{
		{"g1", true},
		{"orders-service", true},
		{"console-consumer-12345", false},
		{"connect-mm2", false},
		{"__internal", false},
		{"my-console-consumer-1", true},
		{"connector", true},
	} {
		if got := f.ShouldReplicateGroup(tc.group); got != tc.want {
			t.Errorf("ShouldReplicateGroup(%q) = %v, want %v", tc.group, got, tc.want)
		}
	}
}

func TestConfigPropertyFilter_Defaults(t *testing.T) {
	f, err := NewConfigPropertyFilter(DefaultConfigPropertiesExclude)
	if err != nil {
		t.Fatalf("NewConfigPropertyFilter(default): %v", err)
	}
	excluded := []string{
		"follower.replication.throttled.replicas",
		"leader.replication.throttled.replicas",
		"message.timestamp.difference.max.ms",
		"message.timestamp.type",
		"unclean.leader.election.enable",
		"min.insync.replicas",
	}
	if n := len(splitList(DefaultConfigPropertiesExclude)); n != len(excluded) {
		t.Errorf("DefaultConfigPropertiesExclude has %d items, want %d", n, len(excluded))
	}
	for _, name := range excluded {
		if f.ShouldReplicateConfigProperty(name) {
			t.Errorf("ShouldReplicateConfigProperty(%q) = true, want false", name)
		}
	}
	for _, name := range []string{"retention.ms", "cleanup.policy", "min.insync.replicasX", "minXinsync.replicas"} {
		if !f.ShouldReplicateConfigProperty(name) {
			t.Errorf("ShouldReplicateConfigProperty(%q) = false, want true", name)
		}
	}
	none, err := NewConfigPropertyFilter("")
	if err != nil {
		t.Fatalf("NewConfigPropertyFilter(empty): %v", err)
	}
	if !none.ShouldReplicateConfigProperty("min.insync.replicas") {
		t.Error("empty exclude list excluded min.insync.replicas")
	}
}

func TestPatternErrors(t *testing.T) {
	const re2Hint = "Go RE2 regular expressions have no look-around, backreferences"
	for _, tc := range []struct {
		name     string
		build    func() error
		key      string
		item     string
		wantHint bool
	}{
		{"lookahead in topics", func() error { _, err := NewTopicFilter("orders, (?!secret).*", ""); return err },
			"topics", "(?!secret).*", true},
		{"lookbehind in topics.exclude", func() error { _, err := NewTopicFilter(".*", "(?<=a)b"); return err },
			"topics.exclude", "(?<=a)b", true},
		{"backreference in groups", func() error { _, err := NewGroupFilter(`(a)\1`, ""); return err },
			"groups", `(a)\1`, true},
		{"possessive in groups.exclude", func() error { _, err := NewGroupFilter(".*", "g, a*+"); return err },
			"groups.exclude", "a*+", true},
		{"atomic group in config.properties.exclude", func() error { _, err := NewConfigPropertyFilter("(?>x)"); return err },
			"config.properties.exclude", "(?>x)", true},
		{"unbalanced paren", func() error { _, err := NewTopicFilter("orders, (x", ""); return err },
			"topics", "(x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.build()
			if err == nil {
				t.Fatal("got nil error")
			}
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PatternError", err, err)
			}
			if pe.Key != tc.key || pe.Item != tc.item {
				t.Errorf("PatternError{Key: %q, Item: %q}, want {%q, %q}", pe.Key, pe.Item, tc.key, tc.item)
			}
			var se *syntax.Error
			if !errors.As(err, &se) {
				t.Errorf("error %v does not unwrap to *syntax.Error", err)
			}
			msg := err.Error()
			wantPrefix := "compile " + tc.key + " item " + strconv.Quote(tc.item) + ": "
			if !strings.HasPrefix(msg, wantPrefix) {
				t.Errorf("error %q does not start with %q", msg, wantPrefix)
			}
			if got := strings.Contains(msg, re2Hint); got != tc.wantHint {
				t.Errorf("error %q: RE2 hint present = %v, want %v", msg, got, tc.wantHint)
			}
		})
	}

	// Both lists bad: both problems are reported.
	_, err := NewTopicFilter("(?=a)", "(?!b)")
	if err == nil || !strings.Contains(err.Error(), "compile topics item") || !strings.Contains(err.Error(), "compile topics.exclude item") {
		t.Errorf("NewTopicFilter with two bad lists: error %v, want both lists named", err)
	}
}

func TestFiltersFromProps(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		f, err := FiltersFromProps(nil)
		if err != nil {
			t.Fatalf("FiltersFromProps(nil): %v", err)
		}
		checkTopics(t, f, map[string]bool{"orders": true, "__consumer_offsets": false, "mm2-offsets.A.internal": false, "x.replica": false})
		checkGroups(t, f, map[string]bool{"g1": true, "console-consumer-1": false, "connect-x": false, "__g": false})
		if f.ConfigProperties.ShouldReplicateConfigProperty("min.insync.replicas") {
			t.Error("default config property filter replicates min.insync.replicas")
		}
	})
	t.Run("explicit keys", func(t *testing.T) {
		f, err := FiltersFromProps(map[string]string{
			KeyTopics:                  "orders.*, payments",
			KeyTopicsExclude:           "orders-test",
			KeyGroups:                  "app-.*",
			KeyGroupsExclude:           "app-test",
			KeyConfigPropertiesExclude: "retention\\..*",
		})
		if err != nil {
			t.Fatalf("FiltersFromProps: %v", err)
		}
		checkTopics(t, f, map[string]bool{"orders": true, "orders-eu": true, "orders-test": false, "payments": true, "x.replica": false})
		checkGroups(t, f, map[string]bool{"app-1": true, "app-test": false, "console-consumer-1": false, "g1": false})
		if f.ConfigProperties.ShouldReplicateConfigProperty("retention.ms") || !f.ConfigProperties.ShouldReplicateConfigProperty("min.insync.replicas") {
			t.Error("config.properties.exclude not applied")
		}
	})
	t.Run("blacklist aliases", func(t *testing.T) {
		f, err := FiltersFromProps(map[string]string{
			KeyTopicsBlacklist:           "secret",
			KeyGroupsBlacklist:           "g2",
			KeyConfigPropertiesBlacklist: "retention\\.ms",
		})
		if err != nil {
			t.Fatalf("FiltersFromProps: %v", err)
		}
		// The alias replaces the default exclude list entirely.
		checkTopics(t, f, map[string]bool{"secret": false, "x.replica": true, "orders": true})
		checkGroups(t, f, map[string]bool{"g2": false, "console-consumer-1": true})
		if f.ConfigProperties.ShouldReplicateConfigProperty("retention.ms") || !f.ConfigProperties.ShouldReplicateConfigProperty("min.insync.replicas") {
			t.Error("config.properties.blacklist not applied")
		}
	})
	t.Run("exclude beats blacklist", func(t *testing.T) {
		f, err := FiltersFromProps(map[string]string{
			KeyTopicsExclude:   "a",
			KeyTopicsBlacklist: "b",
			KeyGroupsExclude:   "c",
			KeyGroupsBlacklist: "d",
		})
		if err != nil {
			t.Fatalf("FiltersFromProps: %v", err)
		}
		checkTopics(t, f, map[string]bool{"a": false, "b": true})
		checkGroups(t, f, map[string]bool{"c": false, "d": true})
	})
	t.Run("blank lists", func(t *testing.T) {
		f, err := FiltersFromProps(map[string]string{KeyTopics: "", KeyGroupsExclude: " ", KeyConfigPropertiesExclude: ""})
		if err != nil {
			t.Fatalf("FiltersFromProps: %v", err)
		}
		checkTopics(t, f, map[string]bool{"orders": false})
		checkGroups(t, f, map[string]bool{"console-consumer-1": true})
		if !f.ConfigProperties.ShouldReplicateConfigProperty("min.insync.replicas") {
			t.Error("blank config.properties.exclude still excludes min.insync.replicas")
		}
	})
	t.Run("filter classes", func(t *testing.T) {
		_, err := FiltersFromProps(map[string]string{
			KeyTopicFilterClass:          "DefaultTopicFilter",
			KeyGroupFilterClass:          " org.apache.kafka.connect.mirror.DefaultGroupFilter ",
			KeyConfigPropertyFilterClass: "org.apache.kafka.connect.mirror.DefaultConfigPropertyFilter",
		})
		if err != nil {
			t.Fatalf("FiltersFromProps with default filter classes: %v", err)
		}
		_, err = FiltersFromProps(map[string]string{KeyTopicFilterClass: "com.example.MyFilter"})
		if err == nil || !strings.Contains(err.Error(), `parse topic.filter.class: unsupported filter class "com.example.MyFilter"`) {
			t.Errorf("custom topic filter class: error %v", err)
		}
	})
	t.Run("errors name the key read", func(t *testing.T) {
		f, err := FiltersFromProps(map[string]string{
			KeyTopicsBlacklist:           "(?!x)",
			KeyGroups:                    `(a)\1`,
			KeyConfigPropertiesBlacklist: "a{2000}",
		})
		if err == nil {
			t.Fatalf("FiltersFromProps = %+v, want error", f)
		}
		for _, w := range []string{
			`compile topics.blacklist item "(?!x)"`,
			`compile groups item "(a)\\1"`,
			`compile config.properties.blacklist item "a{2000}"`,
		} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	})
}

func checkTopics(t *testing.T, f Filters, want map[string]bool) {
	t.Helper()
	for topic, w := range want {
		if got := f.Topics.ShouldReplicateTopic(topic); got != w {
			t.Errorf("Topics.ShouldReplicateTopic(%q) = %v, want %v", topic, got, w)
		}
	}
}

func checkGroups(t *testing.T, f Filters, want map[string]bool) {
	t.Helper()
	for group, w := range want {
		if got := f.Groups.ShouldReplicateGroup(group); got != w {
			t.Errorf("Groups.ShouldReplicateGroup(%q) = %v, want %v", group, got, w)
		}
	}
}
