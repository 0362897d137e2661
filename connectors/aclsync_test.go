package connectors

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connectors/policy"
)

// TestMapTopicACL_NeverWidens checks the whole matrix ALLOW/DENY x
// READ/WRITE/ALL x LITERAL/PREFIXED.
func TestMapTopicACL_NeverWidens(t *testing.T) {
	const (
		lit = kmsg.ACLResourcePatternTypeLiteral
		pre = kmsg.ACLResourcePatternTypePrefixed
		al  = kmsg.ACLPermissionTypeAllow
		dn  = kmsg.ACLPermissionTypeDeny
		rd  = kmsg.ACLOperationRead
		wr  = kmsg.ACLOperationWrite
		all = kmsg.ACLOperationAll
	)
	replicated := func(name string, prefixed bool) bool {
		if prefixed {
			return strings.HasPrefix("orders", name) || strings.HasPrefix("payments", name)
		}
		return name == "orders" || name == "payments"
	}
	tests := []struct {
		perm    kmsg.ACLPermissionType
		op      kmsg.ACLOperation
		pattern kmsg.ACLResourcePatternType
		name    string
		wantOp  kmsg.ACLOperation
		copied  bool
	}{
		{al, rd, lit, "orders", rd, true},
		{al, wr, lit, "orders", 0, false},
		{al, all, lit, "orders", rd, true},
		{dn, rd, lit, "orders", rd, true},
		{dn, wr, lit, "orders", wr, true},
		{dn, all, lit, "orders", all, true},
		{al, rd, pre, "ord", rd, true},
		{al, wr, pre, "ord", 0, false},
		{al, all, pre, "pay", rd, true},
		{dn, rd, pre, "ord", rd, true},
		{dn, wr, pre, "pay", wr, true},
		{dn, all, pre, "ord", all, true},
		{al, rd, lit, "not-replicated", 0, false},
		{al, rd, pre, "zzz", 0, false},
		{al, rd, kmsg.ACLResourcePatternTypeMatch, "orders", 0, false},
	}
	pol := &policy.Default{}
	for _, tc := range tests {
		in := topicACL{Principal: "User:alice", Host: "*", Name: tc.name, Pattern: tc.pattern, Operation: tc.op, Permission: tc.perm}
		got, ok := mapTopicACL(in, pol, "A", replicated)
		if ok != tc.copied {
			t.Errorf("%s: copied = %v, want %v", in, ok, tc.copied)
			continue
		}
		if !ok {
			continue
		}
		want := topicACL{Principal: "User:alice", Host: "*", Name: "A." + tc.name, Pattern: tc.pattern, Operation: tc.wantOp, Permission: tc.perm}
		if got != want {
			t.Errorf("%s: mapped to %s, want %s", in, got, want)
		}
		if got.Permission == al && (got.Operation == wr || got.Operation == all) {
			t.Errorf("%s: mapped ACL %s grants more than READ", in, got)
		}
	}
	// The identity policy keeps names.
	got, ok := mapTopicACL(topicACL{Principal: "User:bob", Host: "*", Name: "orders", Pattern: lit, Operation: all, Permission: al},
		&policy.Identity{}, "A", replicated)
	if !ok || got.Name != "orders" || got.Operation != rd {
		t.Errorf("identity policy: got %s, %v", got, ok)
	}
}
