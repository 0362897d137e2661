package group

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProtocolType is the group protocol type mm2go's workers join with, the
// one Kafka Connect's workers use. Kafka's tools list such groups as
// Connect groups.
const ProtocolType = "connect"

// Protocol is the name of mm2go's group protocol (Connect's workers use
// "default", "compatible" and "sessioned"), so a Connect worker and an
// mm2go worker never share a group: the coordinator refuses the second with
// INCONSISTENT_GROUP_PROTOCOL. A later format is a new name offered first,
// with this one second, so that workers of two versions can roll.
const Protocol = "mm2go-v1"

// formatVersion is the version written in metadata and assignments.
const formatVersion = 1

// Worker says who a member is, for people and for the REST API.
type Worker struct {
	// ID names the worker: host:port of its REST listener, or
	// hostname/pid without one (DefaultWorkerID).
	ID string `json:"id"`
	// URL is the worker's REST URL, "" without a REST listener.
	URL string `json:"url,omitempty"`
}

// Fingerprint identifies a worker's effective configuration.
type Fingerprint struct {
	// Hash is a hash of the configuration (ConfigHash); workers with
	// equal hashes run the same flows with the same settings.
	Hash string `json:"hash"`
	// Label says in words which configuration it is, for error
	// messages: the flow file's path, for example.
	Label string `json:"label,omitempty"`
}

// String returns "sha256 0123456789ab (label)".
func (f Fingerprint) String() string {
	h := f.Hash
	if len(h) > 12 {
		h = h[:12]
	}
	if f.Label == "" {
		return "sha256 " + h
	}
	return fmt.Sprintf("sha256 %s (%s)", h, f.Label)
}

// Peer is one member of the group, as the leader saw it.
type Peer struct {
	MemberID    string      `json:"member_id"`
	Worker      Worker      `json:"worker"`
	Fingerprint Fingerprint `json:"config"`
}

// metadata is what a member sends in its JoinGroup request.
type metadata struct {
	Version     int         `json:"version"`
	Worker      Worker      `json:"worker"`
	Fingerprint Fingerprint `json:"config"`
	// Held are the units the member runs or has not finished stopping.
	Held []string `json:"held"`
}

// assignment is what the leader sends each member in SyncGroup.
type assignment struct {
	Version int `json:"version"`
	// Error is "" or errConfigMismatch.
	Error  string `json:"error,omitempty"`
	Leader Peer   `json:"leader"`
	// Owned are the units the member runs in this generation; Revoked
	// are units it holds and must stop and release.
	Owned   []string `json:"owned"`
	Revoked []string `json:"revoked"`
	// Members are every member of the generation, sorted by member id.
	Members []Peer `json:"members"`
}

// errConfigMismatch in an assignment says the member's configuration is
// not the group's: it gets no units.
const errConfigMismatch = "config_mismatch"

func encodeMetadata(md metadata) []byte {
	md.Version = formatVersion
	if md.Held == nil {
		md.Held = []string{}
	}
	b, _ := json.Marshal(md) // strings and slices of strings: cannot fail
	return b
}

func decodeMetadata(b []byte) (metadata, error) {
	var md metadata
	if err := json.Unmarshal(b, &md); err != nil {
		return md, fmt.Errorf("decode member metadata: %w", err)
	}
	if md.Version < 1 {
		return md, fmt.Errorf("decode member metadata: version %d is not an mm2go group format", md.Version)
	}
	return md, nil
}

func encodeAssignment(a assignment) []byte {
	a.Version = formatVersion
	if a.Owned == nil {
		a.Owned = []string{}
	}
	if a.Revoked == nil {
		a.Revoked = []string{}
	}
	b, _ := json.Marshal(a)
	return b
}

func decodeAssignment(b []byte) (assignment, error) {
	var a assignment
	if len(b) == 0 {
		return a, fmt.Errorf("decode assignment: empty; the leader sent this member nothing")
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("decode assignment: %w", err)
	}
	if a.Version < 1 {
		return a, fmt.Errorf("decode assignment: version %d is not an mm2go group format", a.Version)
	}
	return a, nil
}

// leaderPlan is what the leader computed in one generation.
type leaderPlan struct {
	sync    []kmsg.SyncGroupRequestGroupAssignment
	plans   map[string]Plan
	members []Peer
	// undecodable are members whose metadata could not be read, with why.
	undecodable map[string]error
}

// lead computes the assignments of a generation from the members of the
// JoinGroup response, as the leader leaderID with the given units. Members
// whose configuration hash differs from the leader's, and members whose
// metadata cannot be read, get no units and are told to release what they
// hold.
func lead(leaderID string, units []string, members []kmsg.JoinGroupResponseMember, kind func(string) string) leaderPlan {
	lp := leaderPlan{undecodable: make(map[string]error)}
	mds := make(map[string]metadata, len(members))
	for _, jm := range members {
		md, err := decodeMetadata(jm.ProtocolMetadata)
		if err != nil {
			lp.undecodable[jm.MemberID] = err
		}
		mds[jm.MemberID] = md
		lp.members = append(lp.members, Peer{MemberID: jm.MemberID, Worker: md.Worker, Fingerprint: md.Fingerprint})
	}
	sort.Slice(lp.members, func(i, j int) bool { return lp.members[i].MemberID < lp.members[j].MemberID })
	leader := Peer{MemberID: leaderID, Worker: mds[leaderID].Worker, Fingerprint: mds[leaderID].Fingerprint}

	claims := make([]Claim, 0, len(members))
	for _, p := range lp.members {
		_, bad := lp.undecodable[p.MemberID]
		claims = append(claims, Claim{
			Member:   p.MemberID,
			Held:     mds[p.MemberID].Held,
			Eligible: !bad && p.Fingerprint.Hash == leader.Fingerprint.Hash,
		})
	}
	lp.plans = Assign(units, claims, kind)
	for _, c := range claims {
		p := lp.plans[c.Member]
		a := assignment{Leader: leader, Owned: p.Owned, Revoked: p.Revoked, Members: lp.members}
		if !c.Eligible {
			a.Error = errConfigMismatch
		}
		lp.sync = append(lp.sync, kmsg.SyncGroupRequestGroupAssignment{MemberID: c.Member, MemberAssignment: encodeAssignment(a)})
	}
	return lp
}
