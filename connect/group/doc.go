// Package group makes several mm2go workers one system. Workers started
// with the same flow file join one group on a Kafka cluster through Kafka's
// group membership protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// protocol type "connect", as Kafka Connect's workers do) and split the
// work between them: no other service runs.
//
// # Model
//
// The work is a set of units, opaque strings (the runtime uses connector
// and task ids such as "A->B/MirrorSourceConnector/0"). Each generation of
// the group, the coordinator names a leader; the leader reads what every
// member says it holds and computes the assignment with Assign; every
// member learns what it owns. A Member is one worker's side of this.
//
// Assign is incremental, cooperative and sticky (Kafka Connect's KIP-415
// in spirit, without its scheduled delay): a unit stays with its owner
// while the owner stays and holds no more than its share; a unit that must
// move is first revoked (owned by nobody) in one generation and given to
// its new owner in a later one, after the old owner released it; new units
// and the units of departed members go to the members furthest below their
// share. Shares are per kind of unit (KindOf: each connector's tasks, each
// flow's connectors) and in total, each within one unit, and among the
// plans with those shares Assign revokes the fewest units.
//
// # Using a Member
//
// The runtime builds a Member with NewMember, runs Member.Run in its own
// goroutine, and reconciles what it runs with Member.Assignment each time
// Member.Updates fires:
//
//	m, err := group.NewMember(group.Config{Client: cl, Group: p.ID, Worker: w, Fingerprint: f, Units: units})
//	go func() { errc <- m.Run(ctx) }() // joins, heartbeats, rejoins; leaves when ctx ends
//	for {
//		select {
//		case <-m.Updates():
//		case err := <-errc: // a *GroupError: the coordinator refused this worker
//			return err
//		}
//		a := m.Assignment()
//		// a.Err: nil, *ConfigMismatchError (run nothing, say why), or *LostError (rejoining).
//		// 1. Revoked: stop each, flush its producer, commit its offsets while
//		//    m.Owns(unit, gen) says so (bound the write by the time Owns
//		//    returns), then m.Release(unit, gen).
//		// 2. Fenced: membership was lost; stop each WITHOUT committing
//		//    (Owns is false), then m.Release(unit, gen).
//		// 3. Owned: start each (unit, gen) not yet running; a unit running
//		//    under another generation is stale: stop it (no commit), release
//		//    it, start it again.
//	}
//	// Before every source-offset commit of a unit started under gen:
//	//	until, ok := m.Owns(unit, gen); if !ok { refuse: another worker owns it now }
//	// To stop: stop every unit and commit, then cancel Run's ctx (it leaves
//	// the group, so that the others take the units at once).
//
// Release every Revoked and Fenced ownership, also one the runtime never
// started: the member holds it from the moment it was assigned, and the
// leader gives nobody else a unit a member holds. An ownership in Revoked
// can come back to Owned under the same generation before it was released
// (the leader kept it here after all): keep running it if it was not being
// stopped yet; otherwise finish, Release, and the group gives it out
// again. Err keeps the *LostError that fenced units until every one of
// them is released, also once the member is back in the group: a runtime
// that reads the assignment only then (Updates holds one signal) sees why
// they stop. The leader assigns the units of its last SetUnits
// (Config.Units at first): every worker must compute them from the flow
// file alone, so that any of them can lead.
//
// # Fencing
//
// A worker that lost a unit must stop writing for it before the new owner
// starts, and a stale owner must never commit over the new one. Owns is the
// primitive: it is true only while the member holds a valid ownership of
// that generation and its lease runs. The lease is the time the
// coordinator cannot have evicted the member, less FenceMargin:
//
//   - Every heartbeat answered NONE or REBALANCE_IN_PROGRESS, and every
//     JoinGroup that completed a generation, restarted the member's session
//     at the coordinator when it arrived, after it was sent at t: the
//     coordinator cannot evict the member for a missed session before
//     t + SessionTimeout.
//   - A heartbeat answered NONE, or a JoinGroup that completed a
//     generation, sent at t, also says that any rebalance that could leave
//     the member out began after t: such a rebalance cannot complete
//     without it before t + RebalanceTimeout.
//   - The lease ends at the earlier of the two, minus FenceMargin
//     (2s): 8s after the last acknowledged heartbeat with Connect's
//     defaults. Owns turns false then, and Assignment reports a LostError
//     at once (a timer), even while a request hangs.
//   - A member that has no running lease (it joins, or it lost its
//     membership) runs nothing of an assignment until a heartbeat sent
//     after the assignment arrived was answered NONE: that answer says
//     it is in the generation, the group is stable, and its lease runs
//     from the heartbeat's send time. Until then Owns is false and
//     Assignment lists nothing as Owned, without an error; the first
//     heartbeat goes out at once. A JoinGroup waits at the coordinator
//     for the rebalance (for instance until a killed member's session
//     expires, up to SessionTimeout, or up to RebalanceTimeout), so the
//     lease counted from its send time may be over when the assignment
//     arrives; nothing of that generation has run, so that is no loss.
//     Only a lease that ran out while units ran under it is a loss
//     (LostError, the units fenced). A member whose lease runs keeps it
//     across a rebalance, and its new units start at once.
//   - A new owner gets a unit only in a generation whose JoinGroup showed
//     no member holding it, which is after the old owner released it or
//     after the coordinator evicted the old owner; and it starts only once
//     it read that assignment and its own lease runs. So an old owner that
//     stops writing at its lease end is done FenceMargin before the
//     earliest eviction, and the two never overlap. Waiting for the first
//     heartbeat only delays the new owner.
//
// The argument assumes the member's clock and the coordinator's run at the
// same rate (over seconds; they need not agree on the time) and that a
// write sent before the lease ended lands within FenceMargin; the runtime
// bounds its commit by the time Owns returns. A revoked unit stays owned
// until it is released (its final commit is allowed) because nobody else
// can be given it before then. UNKNOWN_MEMBER_ID and ILLEGAL_GENERATION
// end every ownership at once. JoinGroup answers in a stable group, and
// SyncGroup answers, extend nothing: the coordinator (kfake for certain)
// does not restart the session for them.
//
// # One configuration
//
// Each member sends a Fingerprint of its effective configuration (Hash of
// it, and a label for people). The group runs its leader's: a member whose
// hash differs gets no units, and Assignment.Err says so with both
// fingerprints and the leader's worker id and URL (*ConfigMismatchError);
// the runtime logs it at ERROR and shows it in its status. That member
// stays in the group and waits.
//
// A rolling update of the flow file therefore works like this: workers
// restarted with the new file wait while the leader runs the old one; when
// the leader is restarted (at the latest, the last old worker), a worker
// with the new file leads and the old ones wait in turn; once every worker
// runs the new file, all take units again. Units never run under both
// files at once: the old workers' units are revoked (and committed) before
// new workers get them. During the update the workers with the leader's
// file carry every unit, so roll one worker at a time with room to spare
// (Kubernetes: maxSurge 1, maxUnavailable 0).
//
// # Where the group lives
//
// Place derives the group id and cluster from the flow file: by default
// "mm2go-" and a short hash of the sorted cluster aliases the worker serves
// (the --clusters list, or every cluster of the file: deployments for
// different target data centres form separate groups, and the id stays the
// same when settings or flows change), on the first target cluster in
// sorted order (MM2's dedicated mode keeps each flow's group on its target).
// Both can be set: mm2go.group.id and mm2go.group.cluster.
//
// # Protocol
//
// Protocol type "connect", protocol name Protocol ("mm2go-v1"), so a Kafka
// Connect worker and an mm2go worker never share a group (the coordinator
// answers the second INCONSISTENT_GROUP_PROTOCOL, which Run returns as a
// *GroupError). Member metadata and assignments are JSON: the member's
// worker id, REST URL, configuration fingerprint and held units; the
// leader's id, worker and fingerprint, the member's owned and revoked units,
// every member's worker and fingerprint. Kafka's tools (DescribeGroups)
// show them as they are.
//
// # kfake
//
// The tests run against franz-go's kfake. Where it differs from Kafka in
// ways that matter here: kfake keeps a member's session timer running while
// the member waits in JoinGroup (Kafka exempts members awaiting a join), so
// Member heartbeats while it waits, which Kafka answers harmlessly; kfake
// restarts no session for a JoinGroup or SyncGroup answered in a stable
// group (Kafka restarts it for the SyncGroup), which Member never relies
// on; a leaving leader's successor is picked by map order (Kafka: the
// first remaining member).
package group
