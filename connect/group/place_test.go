package group

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestDefaultID(t *testing.T) {
	a := DefaultID([]string{"primary", "backup"})
	if !strings.HasPrefix(a, "mm2go-") || len(a) != len("mm2go-")+12 {
		t.Fatalf("DefaultID = %q, want mm2go- and 12 hex digits", a)
	}
	if b := DefaultID([]string{"backup", "primary", "backup"}); b != a {
		t.Errorf("order or repeats changed the id: %q vs %q", b, a)
	}
	if c := DefaultID([]string{"backup"}); c == a {
		t.Errorf("a --clusters subset got the same id %q", c)
	}
	// Aliases are hashed as a list, not joined: "a,b" is one alias.
	if DefaultID([]string{"a,b"}) == DefaultID([]string{"a", "b"}) {
		t.Errorf("[a,b] and [a b] got the same id")
	}
	if got := DefaultID([]string{"backup", "primary"}); got != "mm2go-"+mustHashPrefix(t, []string{"backup", "primary"}) {
		t.Errorf("DefaultID = %q, not the hash of the sorted aliases", got)
	}
}

func mustHashPrefix(t *testing.T, v any) string {
	t.Helper()
	h, err := Hash(v)
	if err != nil {
		t.Fatal(err)
	}
	return h[:12]
}

func TestPlace(t *testing.T) {
	all := []string{"dc1", "dc2", "central"}
	for _, tc := range []struct {
		name              string
		clusters, targets []string
		id, cluster       string
		want              Placement
		err               string
	}{
		{name: "defaults: first target in sorted order", clusters: all, targets: []string{"dc2", "central"},
			want: Placement{ID: DefaultID(all), Cluster: "central"}},
		{name: "one target", clusters: all, targets: []string{"dc2"},
			want: Placement{ID: DefaultID(all), Cluster: "dc2"}},
		{name: "overrides", clusters: all, targets: []string{"dc2"}, id: "mirror-east", cluster: "dc1",
			want: Placement{ID: "mirror-east", Cluster: "dc1"}},
		{name: "--clusters deployments form their own groups", clusters: []string{"dc2"}, targets: []string{"dc2"},
			want: Placement{ID: DefaultID([]string{"dc2"}), Cluster: "dc2"}},
		{name: "cluster override unknown", clusters: all, targets: []string{"dc2"}, cluster: "dc9",
			err: `group cluster "dc9" is not a cluster this worker serves (central, dc1, dc2)`},
		{name: "id with spaces", clusters: all, targets: []string{"dc2"}, id: " g",
			err: `group id " g" begins or ends with spaces`},
		{name: "no targets", clusters: all,
			err: "no enabled flow targets a cluster this worker serves"},
		{name: "no clusters", targets: nil,
			err: "no clusters to derive a group id from"},
		{name: "no targets but a cluster", clusters: all, cluster: "dc1",
			want: Placement{ID: DefaultID(all), Cluster: "dc1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Place(tc.clusters, tc.targets, tc.id, tc.cluster)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Place = %v, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Place = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDefaultWorkerID(t *testing.T) {
	host, _ := os.Hostname()
	for addr, want := range map[string]string{
		"":               host + "/" + strconv.Itoa(os.Getpid()),
		"127.0.0.1:8083": "127.0.0.1:8083",
		":8083":          host + ":8083",
		"0.0.0.0:8083":   host + ":8083",
		"[::]:8083":      host + ":8083",
		"mm2go-0:8083":   "mm2go-0:8083",
		"weird":          "weird",
	} {
		if got := DefaultWorkerID(addr); got != want {
			t.Errorf("DefaultWorkerID(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestHash(t *testing.T) {
	a, err := Hash(map[string]string{"b": "2", "a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Hash(map[string]string{"a": "1", "b": "2"})
	c, _ := Hash(map[string]string{"a": "1", "b": "3"})
	if a != b || a == c || len(a) != 64 {
		t.Fatalf("Hash: %s %s %s", a, b, c)
	}
	if _, err := Hash(func() {}); err == nil || !strings.Contains(err.Error(), "hash configuration") {
		t.Fatalf("Hash(func) = %v, want an error", err)
	}
}
