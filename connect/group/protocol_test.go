package group

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMetadata_RoundTrip(t *testing.T) {
	md := metadata{Worker: Worker{ID: "h:8083", URL: "http://h:8083"}, Fingerprint: Fingerprint{Hash: "ab", Label: "f.yaml"}, Held: []string{"A->B/S/0"}}
	got, err := decodeMetadata(encodeMetadata(md))
	md.Version = formatVersion
	if err != nil || !reflect.DeepEqual(got, md) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, md)
	}
	// A later version's extra fields are ignored.
	got, err = decodeMetadata([]byte(`{"version":2,"worker":{"id":"w"},"config":{"hash":"h"},"held":[],"later":true}`))
	if err != nil || got.Worker.ID != "w" {
		t.Fatalf("decode a later version = %+v, %v", got, err)
	}
	for _, bad := range []string{``, `{`, `{"version":0}`, `[1]`} {
		if _, err := decodeMetadata([]byte(bad)); err == nil || !strings.Contains(err.Error(), "decode member metadata") {
			t.Errorf("decodeMetadata(%q) = %v, want an error", bad, err)
		}
	}
}

func TestAssignment_RoundTrip(t *testing.T) {
	a := assignment{Error: errConfigMismatch, Leader: Peer{MemberID: "m1", Worker: Worker{ID: "w1"}, Fingerprint: Fingerprint{Hash: "h"}},
		Owned: []string{"u1"}, Revoked: []string{"u2"}, Members: []Peer{{MemberID: "m1"}}}
	got, err := decodeAssignment(encodeAssignment(a))
	a.Version = formatVersion
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, a)
	}
	for bad, want := range map[string]string{``: "empty", `{`: "decode assignment", `{"version":0}`: "version 0"} {
		if _, err := decodeAssignment([]byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("decodeAssignment(%q) = %v, want an error saying %q", bad, err, want)
		}
	}
}

// TestLead: the leader's configuration wins; a member with another, or
// with metadata the leader cannot read, gets nothing and releases what it
// holds; everyone learns the leader and the members.
func TestLead(t *testing.T) {
	md := func(id, hash string, held ...string) kmsg.JoinGroupResponseMember {
		return kmsg.JoinGroupResponseMember{MemberID: id, ProtocolMetadata: encodeMetadata(metadata{
			Worker: Worker{ID: "w-" + id, URL: "http://" + id}, Fingerprint: Fingerprint{Hash: hash}, Held: held})}
	}
	units := tasks("S", 4)
	members := []kmsg.JoinGroupResponseMember{
		md("m2", "new", units[3]),
		md("m1", "old", units[0]),
		md("m3", "old"),
		{MemberID: "m4", ProtocolMetadata: []byte("garbage")},
	}
	lp := lead("m1", units, members, nil)
	if len(lp.undecodable) != 1 || lp.undecodable["m4"] == nil {
		t.Fatalf("undecodable = %v, want m4", lp.undecodable)
	}
	if len(lp.members) != 4 || lp.members[0].MemberID != "m1" || lp.members[1].Worker.URL != "http://m2" {
		t.Fatalf("members = %+v", lp.members)
	}
	got := map[string]assignment{}
	for _, s := range lp.sync {
		a, err := decodeAssignment(s.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		got[s.MemberID] = a
	}
	if len(got) != 4 {
		t.Fatalf("%d assignments for 4 members", len(got))
	}
	for id, a := range got {
		if a.Leader.MemberID != "m1" || a.Leader.Fingerprint.Hash != "old" || a.Leader.Worker.ID != "w-m1" || len(a.Members) != 4 {
			t.Errorf("%s: leader %+v, %d members", id, a.Leader, len(a.Members))
		}
	}
	if a := got["m2"]; a.Error != errConfigMismatch || len(a.Owned) != 0 || !reflect.DeepEqual(a.Revoked, []string{units[3]}) {
		t.Errorf("mismatched m2: %+v", a)
	}
	if a := got["m4"]; a.Error != errConfigMismatch || len(a.Owned) != 0 {
		t.Errorf("unreadable m4: %+v", a)
	}
	// m1 keeps its unit; the revoked one waits; m1 and m3 share the rest.
	o1, o3 := got["m1"].Owned, got["m3"].Owned
	if len(o1)+len(o3) != 3 || !slices.Contains(o1, units[0]) || slices.Contains(append(o1, o3...), units[3]) || got["m1"].Error != "" {
		t.Errorf("eligible members: m1 %v, m3 %v", o1, o3)
	}
}

func TestFingerprint_String(t *testing.T) {
	for f, want := range map[Fingerprint]string{
		{Hash: "0123456789abcdef", Label: "flows.yaml"}: "sha256 0123456789ab (flows.yaml)",
		{Hash: "ab"}: "sha256 ab",
	} {
		if got := f.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", f, got, want)
		}
	}
}
