package policy

import "testing"

// FuzzPolicy checks that parsing never panics, that Default agrees with the transcription of the
// Java code, that a remote name is exactly "<source><separator><upstream>", and that OriginalTopic and
// IsCycle terminate, for any name and separator.
func FuzzPolicy(f *testing.F) {
	for _, seed := range []struct {
		topic, sep string
	}{
		{"t", ""}, {"A.", ""}, {"A..", ""}, {".t", ""}, {"A.B.t", ""}, {"A..t", ""}, {"B.A.heartbeats", ""},
		{"", ""}, {"..", "."}, {"A_t", "_"}, {"A---t", "--"}, {"----", "--"}, {"heartbeats", "t"},
		{"aaa", "aa"}, {"\xff.\x00", "."}, {"A.checkpoints.internal", "."},
	} {
		f.Add(seed.topic, seed.sep)
	}
	f.Fuzz(func(t *testing.T, topic, sep string) {
		d := Default{Separator: sep}
		effSep := d.separator()

		wantSrc, wantOK := javaTopicSource(topic, effSep)
		src, ok := d.TopicSource(topic)
		if src != wantSrc || ok != wantOK {
			t.Fatalf("Default{%q}.TopicSource(%q) = %q, %v, Java gives %q, %v", sep, topic, src, ok, wantSrc, wantOK)
		}
		up, upOK := d.UpstreamTopic(topic)
		if upOK != ok {
			t.Fatalf("Default{%q}: TopicSource(%q) ok = %v but UpstreamTopic ok = %v", sep, topic, ok, upOK)
		}
		if ok && d.FormatRemoteTopic(src, up) != topic {
			t.Fatalf("Default{%q}: FormatRemoteTopic(%q, %q) = %q, want %q", sep, src, up, d.FormatRemoteTopic(src, up), topic)
		}

		for _, p := range []ReplicationPolicy{d, Identity{Default: d, SourceClusterAlias: "A"}, Identity{Default: d}} {
			// Every hop must shorten the name, so a chain is at most len(topic) hops long.
			name, hops := topic, 0
			for {
				next, ok := p.UpstreamTopic(name)
				if !ok || next == name {
					break
				}
				if len(next) >= len(name) {
					t.Fatalf("%+v.UpstreamTopic(%q) = %q, not shorter", p, name, next)
				}
				name = next
				if hops++; hops > len(topic) {
					t.Fatalf("%+v: upstream chain of %q longer than %d hops", p, topic, len(topic))
				}
			}
			if got := p.OriginalTopic(topic); got != name {
				t.Fatalf("%+v.OriginalTopic(%q) = %q, want %q", p, topic, got, name)
			}
			_ = p.IsHeartbeatsTopic(topic)
			_ = p.IsInternalTopic(topic)
			_ = IsCycle(p, topic, "B")
			_ = ShouldReplicate(p, nil, topic, "B", true)
		}
	})
}
