package connectors

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connectors/policy"
)

// topicACL is one topic ACL binding.
type topicACL struct {
	Principal  string
	Host       string
	Name       string
	Pattern    kmsg.ACLResourcePatternType // LITERAL or PREFIXED
	Operation  kmsg.ACLOperation
	Permission kmsg.ACLPermissionType // ALLOW or DENY
}

func (a topicACL) String() string {
	return fmt.Sprintf("%s %s %s from %s on %s topic %q", a.Principal, a.Permission, a.Operation, a.Host, a.Pattern, a.Name)
}

// mapTopicACL maps a source topic ACL to the ACL for the remote topic, never
// granting more than the source did to readers of the copy:
//
//   - ALLOW WRITE is not copied: only mm2go writes remote topics.
//   - ALLOW ALL becomes ALLOW READ.
//   - DENY is copied as it is (denying never widens access).
//   - LITERAL names and PREFIXED prefixes are renamed by the replication
//     policy ("orders" -> "A.orders", prefix "pay" -> "A.pay").
//
// replicated says whether a literal source topic is replicated; for a
// prefix, it is asked whether any replicated topic starts with the prefix.
// ok is false when the ACL is not copied.
func mapTopicACL(a topicACL, p policy.ReplicationPolicy, sourceAlias string, replicated func(name string, prefixed bool) bool) (topicACL, bool) {
	if a.Pattern != kmsg.ACLResourcePatternTypeLiteral && a.Pattern != kmsg.ACLResourcePatternTypePrefixed {
		return a, false
	}
	if !replicated(a.Name, a.Pattern == kmsg.ACLResourcePatternTypePrefixed) {
		return a, false
	}
	switch a.Permission {
	case kmsg.ACLPermissionTypeAllow:
		switch a.Operation {
		case kmsg.ACLOperationWrite:
			return a, false
		case kmsg.ACLOperationAll:
			a.Operation = kmsg.ACLOperationRead
		}
	case kmsg.ACLPermissionTypeDeny:
	default:
		return a, false
	}
	a.Name = p.FormatRemoteTopic(sourceAlias, a.Name)
	return a, true
}

// describeTopicACLs lists every topic ACL of a cluster. ok is false when the
// cluster has no authorizer (Kafka answers SECURITY_DISABLED).
func describeTopicACLs(ctx context.Context, cl *kgo.Client) (acls []topicACL, ok bool, err error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeTopic
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, false, fmt.Errorf("describe topic ACLs: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if err == kerr.SecurityDisabled {
			return nil, false, nil
		}
		msg := ""
		if resp.ErrorMessage != nil {
			msg = ": " + *resp.ErrorMessage
		}
		return nil, false, fmt.Errorf("describe topic ACLs: %w%s", err, msg)
	}
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			acls = append(acls, topicACL{Principal: a.Principal, Host: a.Host, Name: r.ResourceName,
				Pattern: r.ResourcePatternType, Operation: a.Operation, Permission: a.PermissionType})
		}
	}
	return acls, true, nil
}

// createTopicACLs creates acls on the cluster; ACLs that exist already are
// left as they are, so a periodic sync is idempotent.
func createTopicACLs(ctx context.Context, cl *kgo.Client, acls []topicACL) error {
	if len(acls) == 0 {
		return nil
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for _, a := range acls {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType = kmsg.ACLResourceTypeTopic
		c.ResourceName = a.Name
		c.ResourcePatternType = a.Pattern
		c.Principal = a.Principal
		c.Host = a.Host
		c.Operation = a.Operation
		c.PermissionType = a.Permission
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create %d topic ACLs: %w", len(acls), err)
	}
	var errs []string
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil && i < len(acls) {
			errs = append(errs, fmt.Sprintf("%s: %v", acls[i], err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("create topic ACLs: %s", strings.Join(errs, "; "))
	}
	return nil
}

// syncTopicACLs copies the source's topic ACLs for replicated topics to the
// target, mapped by mapTopicACL, creating only what the target lacks. It
// returns how many ACLs it created; ok is false when either cluster has no
// authorizer.
func syncTopicACLs(ctx context.Context, src, dst *kgo.Client, p policy.ReplicationPolicy, sourceAlias string,
	replicated func(name string, prefixed bool) bool) (created int, ok bool, err error) {
	want, _, ok, err := planTopicACLs(ctx, src, dst, p, sourceAlias, replicated)
	if err != nil || !ok {
		return 0, ok, err
	}
	if err := createTopicACLs(ctx, dst, want); err != nil {
		return 0, true, err
	}
	return len(want), true, nil
}

// planTopicACLs maps the source's topic ACLs for replicated topics
// (mapTopicACL) and returns those the target lacks (missing) and those it
// has already (present). ok is false when either cluster has no authorizer.
func planTopicACLs(ctx context.Context, src, dst *kgo.Client, p policy.ReplicationPolicy, sourceAlias string,
	replicated func(name string, prefixed bool) bool) (missing, present []topicACL, ok bool, err error) {
	srcACLs, ok, err := describeTopicACLs(ctx, src)
	if err != nil || !ok {
		return nil, nil, ok, err
	}
	dstACLs, ok, err := describeTopicACLs(ctx, dst)
	if err != nil || !ok {
		return nil, nil, ok, err
	}
	have := make(map[topicACL]bool, len(dstACLs))
	for _, a := range dstACLs {
		have[a] = true
	}
	seen := make(map[topicACL]bool)
	for _, a := range srcACLs {
		m, copyIt := mapTopicACL(a, p, sourceAlias, replicated)
		if !copyIt || seen[m] {
			continue
		}
		seen[m] = true
		if have[m] {
			present = append(present, m)
		} else {
			missing = append(missing, m)
		}
	}
	return missing, present, true, nil
}
