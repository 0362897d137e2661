package policy

import (
	"strings"
	"testing"
)

// remoteWant is the expected TopicSource and UpstreamTopic of one name; ok false means Java's null.
type remoteWant struct {
	topic    string
	source   string
	upstream string
	ok       bool
	original string
}

func checkRemote(t *testing.T, p ReplicationPolicy, tc remoteWant) {
	t.Helper()
	src, ok := p.TopicSource(tc.topic)
	if ok != tc.ok || src != tc.source {
		t.Errorf("TopicSource(%q) = %q, %v, want %q, %v", tc.topic, src, ok, tc.source, tc.ok)
	}
	up, ok := p.UpstreamTopic(tc.topic)
	if ok != tc.ok || up != tc.upstream {
		t.Errorf("UpstreamTopic(%q) = %q, %v, want %q, %v", tc.topic, up, ok, tc.upstream, tc.ok)
	}
	if got := p.OriginalTopic(tc.topic); got != tc.original {
		t.Errorf("OriginalTopic(%q) = %q, want %q", tc.topic, got, tc.original)
	}
}

func TestDefault_SplitEdgeCases(t *testing.T) {
	for _, tc := range []remoteWant{
		{topic: "t", original: "t"},
		{topic: "", original: ""},
		{topic: ".", original: "."},
		{topic: "..", original: ".."},
		{topic: "A.", original: "A."},
		{topic: "A..", original: "A.."},
		{topic: "A...", original: "A..."},
		{topic: ".t", source: "", upstream: "t", ok: true, original: "t"},
		{topic: "..t", source: "", upstream: ".t", ok: true, original: "t"},
		{topic: "A.t", source: "A", upstream: "t", ok: true, original: "t"},
		{topic: "A.B.t", source: "A", upstream: "B.t", ok: true, original: "t"},
		{topic: "A..t", source: "A", upstream: ".t", ok: true, original: "t"},
		{topic: "B.A.t", source: "B", upstream: "A.t", ok: true, original: "t"},
		{topic: "C.B.A.t", source: "C", upstream: "B.A.t", ok: true, original: "t"},
		{topic: "A.t.", source: "A", upstream: "t.", ok: true, original: "t."},
		{topic: "A.B.", source: "A", upstream: "B.", ok: true, original: "B."},
		{topic: "A.B..", source: "A", upstream: "B..", ok: true, original: "B.."},
		{topic: "A..B", source: "A", upstream: ".B", ok: true, original: "B"},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			checkRemote(t, Default{}, tc)
			checkRemote(t, Default{Separator: "."}, tc)
		})
	}
}

func TestDefault_CustomSeparators(t *testing.T) {
	for _, tc := range []struct {
		sep string
		remoteWant
	}{
		{"_", remoteWant{topic: "t", original: "t"}},
		{"_", remoteWant{topic: "A.t", original: "A.t"}},
		{"_", remoteWant{topic: "A_", original: "A_"}},
		{"_", remoteWant{topic: "A__", original: "A__"}},
		{"_", remoteWant{topic: "_t", source: "", upstream: "t", ok: true, original: "t"}},
		{"_", remoteWant{topic: "A_t", source: "A", upstream: "t", ok: true, original: "t"}},
		{"_", remoteWant{topic: "B_A_t", source: "B", upstream: "A_t", ok: true, original: "t"}},
		{"_", remoteWant{topic: "A__t", source: "A", upstream: "_t", ok: true, original: "t"}},
		{"_", remoteWant{topic: "B_A.t", source: "B", upstream: "A.t", ok: true, original: "A.t"}},
		{"--", remoteWant{topic: "A-t", original: "A-t"}},
		{"--", remoteWant{topic: "A--", original: "A--"}},
		{"--", remoteWant{topic: "A----", original: "A----"}},
		{"--", remoteWant{topic: "A--t", source: "A", upstream: "t", ok: true, original: "t"}},
		{"--", remoteWant{topic: "B--A--t", source: "B", upstream: "A--t", ok: true, original: "t"}},
		// Java scans left to right without overlap: "A---t" is "A" + "--" + "-t".
		{"--", remoteWant{topic: "A---t", source: "A", upstream: "-t", ok: true, original: "-t"}},
		// "A---" is "A" + "--" + "-": the remainder is not only separators, so it is remote.
		{"--", remoteWant{topic: "A---", source: "A", upstream: "-", ok: true, original: "-"}},
		{"--", remoteWant{topic: "----t", source: "", upstream: "--t", ok: true, original: "t"}},
		{"--", remoteWant{topic: "A.B--t", source: "A.B", upstream: "t", ok: true, original: "t"}},
	} {
		t.Run(tc.sep+"/"+tc.topic, func(t *testing.T) {
			checkRemote(t, Default{Separator: tc.sep}, tc.remoteWant)
		})
	}
}

func TestDefault_FormatRemoteTopic(t *testing.T) {
	for _, tc := range []struct {
		sep, alias, topic, want string
	}{
		{"", "A", "t", "A.t"},
		{".", "B", "A.t", "B.A.t"},
		{"_", "A", "t", "A_t"},
		{"--", "B", "A--t", "B--A--t"},
	} {
		d := Default{Separator: tc.sep}
		got := d.FormatRemoteTopic(tc.alias, tc.topic)
		if got != tc.want {
			t.Errorf("Default{%q}.FormatRemoteTopic(%q, %q) = %q, want %q", tc.sep, tc.alias, tc.topic, got, tc.want)
		}
		if src, ok := d.TopicSource(got); !ok || src != tc.alias {
			t.Errorf("Default{%q}.TopicSource(%q) = %q, %v, want %q, true", tc.sep, got, src, ok, tc.alias)
		}
		if up, ok := d.UpstreamTopic(got); !ok || up != tc.topic {
			t.Errorf("Default{%q}.UpstreamTopic(%q) = %q, %v, want %q, true", tc.sep, got, up, ok, tc.topic)
		}
	}
}

func TestDefault_Heartbeats(t *testing.T) {
	for _, tc := range []struct {
		sep   string
		topic string
		want  bool
	}{
		{"", "heartbeats", true},
		{"", "A.heartbeats", true},
		{"", "B.A.heartbeats", true},
		{"", ".heartbeats", true},
		{"", "A..heartbeats", true},
		{"", "heartbeats.", false},
		{"", "myheartbeats", false},
		{"", "A.myheartbeats", false},
		{"", "heartbeats.A", false},
		{"", "A_heartbeats", false},
		{"_", "A_heartbeats", true},
		{"_", "B_A_heartbeats", true},
		{"_", "A.heartbeats", false},
		{"--", "B--A--heartbeats", true},
	} {
		d := Default{Separator: tc.sep}
		if got := d.IsHeartbeatsTopic(tc.topic); got != tc.want {
			t.Errorf("Default{%q}.IsHeartbeatsTopic(%q) = %v, want %v", tc.sep, tc.topic, got, tc.want)
		}
	}
	if got := (Default{}).HeartbeatsTopic(); got != "heartbeats" {
		t.Errorf("HeartbeatsTopic() = %q, want heartbeats", got)
	}
}

func TestDefault_InternalTopicNames(t *testing.T) {
	for _, tc := range []struct {
		name        string
		d           Default
		checkpoints string // CheckpointsTopic("A")
		offsetSyncs string // OffsetSyncsTopic("B")
	}{
		{"default", Default{}, "A.checkpoints.internal", "mm2-offset-syncs.B.internal"},
		{"dot internal flag false", Default{DisableInternalTopicSeparator: true}, "A.checkpoints.internal", "mm2-offset-syncs.B.internal"},
		{"underscore", Default{Separator: "_"}, "A_checkpoints_internal", "mm2-offset-syncs_B_internal"},
		{"underscore internal flag false", Default{Separator: "_", DisableInternalTopicSeparator: true}, "A.checkpoints.internal", "mm2-offset-syncs.B.internal"},
		{"dashes", Default{Separator: "--"}, "A--checkpoints--internal", "mm2-offset-syncs--B--internal"},
		{"dashes internal flag false", Default{Separator: "--", DisableInternalTopicSeparator: true}, "A.checkpoints.internal", "mm2-offset-syncs.B.internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.d
			if got := p.CheckpointsTopic("A"); got != tc.checkpoints {
				t.Errorf("CheckpointsTopic(A) = %q, want %q", got, tc.checkpoints)
			}
			if got := p.OffsetSyncsTopic("B"); got != tc.offsetSyncs {
				t.Errorf("OffsetSyncsTopic(B) = %q, want %q", got, tc.offsetSyncs)
			}
			for _, name := range []string{tc.checkpoints, tc.offsetSyncs} {
				if !p.IsMM2InternalTopic(name) {
					t.Errorf("IsMM2InternalTopic(%q) = false, want true", name)
				}
				if !p.IsInternalTopic(name) {
					t.Errorf("IsInternalTopic(%q) = false, want true", name)
				}
			}
			if !p.IsCheckpointsTopic(tc.checkpoints) {
				t.Errorf("IsCheckpointsTopic(%q) = false, want true", tc.checkpoints)
			}
			if p.IsCheckpointsTopic(tc.offsetSyncs) {
				t.Errorf("IsCheckpointsTopic(%q) = true, want false", tc.offsetSyncs)
			}
		})
	}
}

func TestDefault_IsInternalTopic(t *testing.T) {
	for _, tc := range []struct {
		d     Default
		topic string
		mm2   bool // IsMM2InternalTopic
		want  bool // IsInternalTopic
	}{
		{Default{}, "orders", false, false},
		{Default{}, "A.orders", false, false},
		{Default{}, "__consumer_offsets", false, true},
		{Default{}, "__transaction_state", false, true},
		{Default{}, ".hidden", false, true},
		{Default{}, "_single", false, false},
		{Default{}, "connect-offsets-internal", false, true},
		{Default{}, "mm2-offsets.A.internal", true, true},
		{Default{}, "mm2-status.A.internal", true, true},
		{Default{}, "A.checkpoints.internal", true, true},
		{Default{}, "x.internalx", false, false},
		{Default{}, "heartbeats", false, false},
		// With "_", MM2's own suffix is "_internal", but Connect's ".internal" stays internal.
		{Default{Separator: "_"}, "A_checkpoints_internal", true, true},
		{Default{Separator: "_"}, "mm2-offsets.A.internal", false, true},
		{Default{Separator: "_"}, "foo_internal", true, true},
		{Default{Separator: "_", DisableInternalTopicSeparator: true}, "foo_internal", false, false},
		{Default{Separator: "--"}, "x-internal", false, true},
		{Default{Separator: "--"}, "x--internal", true, true},
	} {
		if got := tc.d.IsMM2InternalTopic(tc.topic); got != tc.mm2 {
			t.Errorf("%+v.IsMM2InternalTopic(%q) = %v, want %v", tc.d, tc.topic, got, tc.mm2)
		}
		if got := tc.d.IsInternalTopic(tc.topic); got != tc.want {
			t.Errorf("%+v.IsInternalTopic(%q) = %v, want %v", tc.d, tc.topic, got, tc.want)
		}
	}
}

func TestIdentity(t *testing.T) {
	withAlias := Identity{SourceClusterAlias: "A"}
	for _, tc := range []struct {
		name string
		p    Identity
		remoteWant
	}{
		{"plain", withAlias, remoteWant{topic: "t", source: "A", upstream: "t", ok: true, original: "t"}},
		{"dotted", withAlias, remoteWant{topic: "B.t", source: "A", upstream: "B.t", ok: true, original: "B.t"}},
		{"dot prefix", withAlias, remoteWant{topic: ".t", source: "A", upstream: ".t", ok: true, original: ".t"}},
		{"local heartbeats", withAlias, remoteWant{topic: "heartbeats", original: "heartbeats"}},
		{"remote heartbeats", withAlias, remoteWant{topic: "B.heartbeats", source: "B", upstream: "heartbeats", ok: true, original: "heartbeats"}},
		{"two hop heartbeats", withAlias, remoteWant{topic: "C.B.heartbeats", source: "C", upstream: "B.heartbeats", ok: true, original: "heartbeats"}},
		{"suffix only", withAlias, remoteWant{topic: "Bheartbeats", original: "Bheartbeats"}},
		{"custom separator", Identity{Default: Default{Separator: "_"}, SourceClusterAlias: "A"},
			remoteWant{topic: "B_heartbeats", source: "B", upstream: "heartbeats", ok: true, original: "heartbeats"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRemote(t, tc.p, tc.remoteWant)
		})
	}

	// Without source.cluster.alias, Java's topicSource is null but upstreamTopic still returns the topic.
	if src, ok := (Identity{}).TopicSource("t"); ok {
		t.Errorf("Identity{}.TopicSource(t) = %q, true, want false", src)
	}
	if up, ok := (Identity{}).UpstreamTopic("t"); !ok || up != "t" {
		t.Errorf("Identity{}.UpstreamTopic(t) = %q, %v, want t, true", up, ok)
	}

	for _, tc := range []struct {
		alias, topic, want string
	}{
		{"A", "t", "t"},
		{"A", "B.t", "B.t"},
		{"A", "heartbeats", "A.heartbeats"},
		{"A", "B.heartbeats", "A.B.heartbeats"},
		{"A", "myheartbeats", "A.myheartbeats"}, // suffix rule, as in Java
	} {
		if got := withAlias.FormatRemoteTopic(tc.alias, tc.topic); got != tc.want {
			t.Errorf("Identity.FormatRemoteTopic(%q, %q) = %q, want %q", tc.alias, tc.topic, got, tc.want)
		}
	}

	for _, tc := range []struct {
		topic string
		want  bool
	}{
		{"heartbeats", true},
		{"A.heartbeats", true},
		{"B.A.heartbeats", true},
		{"myheartbeats", false},
		{"t", false},
	} {
		if got := withAlias.IsHeartbeatsTopic(tc.topic); got != tc.want {
			t.Errorf("Identity.IsHeartbeatsTopic(%q) = %v, want %v", tc.topic, got, tc.want)
		}
	}

	p := Identity{Default: Default{Separator: "_"}, SourceClusterAlias: "A"}
	if got := p.CheckpointsTopic("A"); got != "A_checkpoints_internal" {
		t.Errorf("Identity.CheckpointsTopic(A) = %q, want A_checkpoints_internal", got)
	}
	if got := p.OffsetSyncsTopic("B"); got != "mm2-offset-syncs_B_internal" {
		t.Errorf("Identity.OffsetSyncsTopic(B) = %q, want mm2-offset-syncs_B_internal", got)
	}
	if !p.IsInternalTopic("__consumer_offsets") || p.IsInternalTopic("orders") {
		t.Errorf("Identity.IsInternalTopic disagrees with Default")
	}
}

// TestIdentity_OddSeparator covers a separator that occurs inside "heartbeats": Identity's
// OriginalTopic must keep applying Identity's UpstreamTopic (Java's virtual dispatch), which stops at
// the first name that no longer ends with "heartbeats".
func TestIdentity_OddSeparator(t *testing.T) {
	p := Identity{Default: Default{Separator: "t"}}
	if got := p.OriginalTopic("heartbeats"); got != "beats" {
		t.Errorf("Identity{t}.OriginalTopic(heartbeats) = %q, want beats", got)
	}
	if got := p.Default.OriginalTopic("heartbeats"); got != "s" {
		t.Errorf("Default{t}.OriginalTopic(heartbeats) = %q, want s", got)
	}
}

func TestIsIdentity(t *testing.T) {
	for _, tc := range []struct {
		p    ReplicationPolicy
		want bool
	}{
		{Default{}, false},
		{&Default{}, false},
		{Identity{}, true},
		{&Identity{SourceClusterAlias: "A"}, true},
	} {
		if got := IsIdentity(tc.p); got != tc.want {
			t.Errorf("IsIdentity(%T) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestValidateAlias(t *testing.T) {
	for _, tc := range []struct {
		p       ReplicationPolicy
		alias   string
		wantErr string
	}{
		{Default{}, "A", ""},
		{Default{}, "us-west", ""},
		{Default{}, "us_west", ""},
		{Default{}, "", "alias is empty"},
		{Default{}, "us.west", `remote topic "us.west.heartbeats" would be read as coming from "us"`},
		{Default{}, "A.", `would be read as coming from "A"`},
		{Default{Separator: "_"}, "us.west", ""},
		{Default{Separator: "_"}, "us_west", `would be read as coming from "us"`},
		{Default{Separator: "--"}, "a-", `would be read as coming from "a"`},
		{Identity{SourceClusterAlias: "A"}, "A", ""},
		{Identity{SourceClusterAlias: "A"}, "us.west", `would be read as coming from "us"`},
	} {
		err := ValidateAlias(tc.p, tc.alias)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateAlias(%+v, %q) = %v, want nil", tc.p, tc.alias, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ValidateAlias(%+v, %q) = %v, want error containing %q", tc.p, tc.alias, err, tc.wantErr)
		}
	}
}

// javaSplit is Java's String.split on a literal, non-empty separator: pieces between left-to-right,
// non-overlapping occurrences, with trailing empty pieces removed.
func javaSplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// javaTopicSource and javaUpstreamTopic transcribe DefaultReplicationPolicy over javaSplit.
func javaTopicSource(topic, sep string) (string, bool) {
	parts := javaSplit(topic, sep)
	if len(parts) < 2 {
		return "", false
	}
	return parts[0], true
}

func javaUpstreamTopic(topic, sep string) (string, bool) {
	src, ok := javaTopicSource(topic, sep)
	if !ok {
		return "", false
	}
	return topic[len(src)+len(sep):], true
}

// TestDefault_MatchesJavaSplit compares Default with a direct transcription of the Java code over
// every name up to a small length built from letters and separator characters.
func TestDefault_MatchesJavaSplit(t *testing.T) {
	for _, tc := range []struct {
		sep      string
		alphabet string
		maxLen   int
	}{
		{".", "A.t", 8},
		{"_", "A_.", 8},
		{"--", "A-t", 9},
		{"aa", "ab", 10},
		{"a.a", "a.", 10},
	} {
		d := Default{Separator: tc.sep}
		n := 0
		forEachString(tc.alphabet, tc.maxLen, func(topic string) {
			n++
			wantSrc, wantOK := javaTopicSource(topic, tc.sep)
			if src, ok := d.TopicSource(topic); src != wantSrc || ok != wantOK {
				t.Fatalf("Default{%q}.TopicSource(%q) = %q, %v, want %q, %v", tc.sep, topic, src, ok, wantSrc, wantOK)
			}
			wantUp, wantOK := javaUpstreamTopic(topic, tc.sep)
			if up, ok := d.UpstreamTopic(topic); up != wantUp || ok != wantOK {
				t.Fatalf("Default{%q}.UpstreamTopic(%q) = %q, %v, want %q, %v", tc.sep, topic, up, ok, wantUp, wantOK)
			}
		})
		if n == 0 {
			t.Fatalf("no names generated for separator %q", tc.sep)
		}
	}
}

// forEachString calls f with every string of length 0..maxLen over alphabet.
func forEachString(alphabet string, maxLen int, f func(string)) {
	buf := make([]byte, 0, maxLen)
	var rec func()
	rec = func() {
		f(string(buf))
		if len(buf) == maxLen {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			buf = append(buf, alphabet[i])
			rec()
			buf = buf[:len(buf)-1]
		}
	}
	rec()
}
