package group

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults, Kafka Connect's (session.timeout.ms, rebalance.timeout.ms,
// heartbeat.interval.ms), and the fencing margin.
const (
	DefaultSessionTimeout    = 10 * time.Second
	DefaultRebalanceTimeout  = 60 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultFenceMargin       = 2 * time.Second
)

// Config configures a Member.
type Config struct {
	// Client talks to the cluster that hosts the group. The member sends
	// its group requests through it and does not close it.
	Client *kgo.Client
	// Group is the group id (Place).
	Group string
	// Worker says who this member is.
	Worker Worker
	// Fingerprint identifies this worker's configuration. The group runs
	// its leader's; a member whose hash differs gets no units.
	Fingerprint Fingerprint
	// Units are the work units the group runs, as far as this worker
	// knows; they matter when it leads. SetUnits changes them.
	Units []string
	// Kind groups units for balancing. Default: KindOf.
	Kind func(unit string) string
	// SessionTimeout: the coordinator evicts a member it has not heard
	// from for this long. Default 10s. The brokers bound it
	// (group.min.session.timeout.ms, 6s by default, and
	// group.max.session.timeout.ms).
	SessionTimeout time.Duration
	// RebalanceTimeout: how long the coordinator waits for members to
	// rejoin during a rebalance. Default 60s.
	RebalanceTimeout time.Duration
	// HeartbeatInterval: how often a member heartbeats. Default 3s; at
	// most (min(SessionTimeout, RebalanceTimeout) - FenceMargin) / 2, so
	// that a lost heartbeat is retried before the lease ends.
	HeartbeatInterval time.Duration
	// FenceMargin: a member stops owning its units this long before the
	// coordinator could evict it. It must cover the time a write started
	// just before the lease ended takes to land. Default 2s.
	FenceMargin time.Duration
	// Logger. Default: a null logger.
	Logger hclog.Logger
	// OnRebalance, when set, is called after each rebalance this member
	// completed (an assignment received) with how long it took, from the
	// first JoinGroup of it: Kafka Connect's rebalance-avg-time-ms and
	// rebalance-max-time-ms are made of these. It is called from Run's
	// goroutine and must not block.
	OnRebalance func(took time.Duration)
}

// RebalanceStats is what a member counts of its rebalances, as Kafka
// Connect's connect-worker-rebalance-metrics do.
type RebalanceStats struct {
	// Rebalancing: a rebalance is under way, from its first JoinGroup
	// (retries included) to the assignment.
	Rebalancing bool
	// Completed counts the rebalances this member completed.
	Completed int64
	// Generation is the generation of the last assignment (Connect's
	// epoch); -1 before the first.
	Generation int32
	// LastCompleted is when the last rebalance completed; zero before the
	// first.
	LastCompleted time.Time
}

func (c *Config) setDefaults() {
	if c.Kind == nil {
		c.Kind = KindOf
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.FenceMargin <= 0 {
		c.FenceMargin = DefaultFenceMargin
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// lease is how long a successful group request keeps this member's units:
// the coordinator cannot evict it sooner (see the package doc).
func (c *Config) lease() time.Duration {
	return min(c.SessionTimeout, c.RebalanceTimeout) - c.FenceMargin
}

func (c *Config) validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("group: Config.Client is nil"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group: Config.Group is empty"))
	}
	if c.Worker.ID == "" {
		errs = append(errs, errors.New("group: Config.Worker.ID is empty"))
	}
	if c.Fingerprint.Hash == "" {
		errs = append(errs, errors.New("group: Config.Fingerprint.Hash is empty"))
	}
	if c.lease() <= 0 {
		errs = append(errs, fmt.Errorf("group: fence margin %v leaves no lease within the session timeout %v and rebalance timeout %v", c.FenceMargin, c.SessionTimeout, c.RebalanceTimeout))
	} else if c.HeartbeatInterval > c.lease()/2 {
		errs = append(errs, fmt.Errorf("group: heartbeat interval %v is more than half the lease %v (session timeout %v, rebalance timeout %v, minus the fence margin %v): one lost heartbeat would fence the worker",
			c.HeartbeatInterval, c.lease(), c.SessionTimeout, c.RebalanceTimeout, c.FenceMargin))
	}
	return errors.Join(errs...)
}

// Ownership is a member's ownership of one unit: the unit, and the
// generation in which the member was given it. The generation stays the same
// for as long as the member keeps the unit; a unit given again after the
// member lost it comes with a new one.
type Ownership struct {
	Unit       string
	Generation int32
}

// Assignment is what a member knows of its assignment, at one moment.
type Assignment struct {
	// Generation is the group generation of the last assignment; 0
	// before the first.
	Generation int32
	// MemberID is the id the coordinator gave this member.
	MemberID string
	// Leader is the member that computed the assignment.
	Leader Peer
	// IsLeader: this member is the leader.
	IsLeader bool
	// Members are the members of the generation, sorted by member id.
	Members []Peer
	// Plans are every member's plans, by member id; the leader only.
	Plans map[string]Plan
	// Owned are the units to run. It stays empty after an assignment
	// until a heartbeat sent after it was answered (the lease is
	// established; see the package doc, "Fencing"), when the member had
	// no running lease before it: Updates fires then.
	Owned []Ownership
	// Revoked are units to stop: flush, commit while Owns allows, then
	// Release. Until they are released nobody else is given them.
	Revoked []Ownership
	// Fenced are units this member still runs but no longer owns
	// (membership lost): stop them without committing, then Release.
	Fenced []Ownership
	// Err is nil while the member runs its units normally, a
	// *ConfigMismatchError when its configuration is not the group's
	// (it gets no units; see the package doc), or a *LostError while it
	// is not a member (it rejoins by itself) and, once it is one again,
	// until every unit the loss fenced was released: a runtime that
	// reads the assignment only after the member rejoined still sees why
	// its units are Fenced.
	Err error
}

// ConfigMismatchError says this worker's configuration differs from the
// group's, which is its leader's. The worker gets no units until the two
// agree.
type ConfigMismatchError struct {
	Worker Worker      // this worker
	Config Fingerprint // this worker's configuration
	Leader Peer        // the leader, and the group's configuration
}

func (e *ConfigMismatchError) Error() string {
	return fmt.Sprintf("this worker's flow file differs from the group's: the group runs %s from worker %s at %s, this worker has %s; this worker runs nothing: stop it, or roll the same file out to every worker",
		e.Leader.Fingerprint, e.Leader.Worker.ID, urlOrNone(e.Leader.Worker.URL), e.Config)
}

func urlOrNone(u string) string {
	if u == "" {
		return "(no REST listener)"
	}
	return u
}

// LostError says the member is not in the group: it owns nothing until it
// rejoined and was assigned units again.
type LostError struct {
	Reason string
	At     time.Time
}

func (e *LostError) Error() string { return "not a member of the worker group: " + e.Reason }

// GroupError is a refusal from the coordinator that retrying cannot fix.
// Run returns it.
type GroupError struct {
	Group string
	Err   error // the Kafka error
	Hint  string
}

func (e *GroupError) Error() string {
	return fmt.Sprintf("join worker group %q: %v: %s", e.Group, e.Err, e.Hint)
}

func (e *GroupError) Unwrap() error { return e.Err }

// Member is one worker's membership in the group. Build it with NewMember,
// run it with Run; read what it owns with Assignment and Owns, and tell it
// what it stopped with Release. Its methods are safe for concurrent use.
type Member struct {
	cfg     Config
	log     hclog.Logger
	updates chan struct{}
	wake    chan struct{}

	// mu guards the fields below.
	mu         sync.Mutex
	started    bool
	done       bool
	memberID   string
	generation int32 // -1 while not in a generation
	units      []string
	joining    bool            // a rebalance is under way
	forceJoin  string          // a reason to rejoin now
	joinReason string          // why the next JoinGroup is sent
	reported   map[string]bool // the units the last JoinGroup said this member holds
	ackSession time.Time       // send time of the last request that restarted the session
	ackStable  time.Time       // send time of the last stable answer (see extendLease)
	leaseEnd   time.Time
	leaseTimer *time.Timer
	owned      map[string]*owning        // valid ownerships, owned or revoked
	held       map[string]map[int32]bool // instances not released: unit -> generations
	revokedAt  map[Ownership]time.Time   // when each revocation arrived, for logs
	lost       *LostError                // not nil while not a member
	lastLoss   *LostError                // the last loss: Err while units it fenced still run
	mismatch   *ConfigMismatchError      // from the last assignment
	view       Assignment                // the last assignment: generation, leader, members
	plans      map[string]Plan           // the last plans, when leader
	rebStart   time.Time                 // when the rebalance under way began; zero when none
	rebalances RebalanceStats            // Rebalancing is derived from rebStart

	// established: the member's lease has run without a break since a
	// heartbeat sent after an assignment was answered NONE; the ownerships
	// given since share it. Until then Owns is false and Assignment lists
	// nothing as Owned: the runtime starts nothing.
	established bool
	awaitFrom   time.Time // when the assignment awaiting its lease arrived
}

type owning struct {
	gen     int32
	revoked bool
}

// NewMember returns a member of cfg.Group. It starts nothing.
func NewMember(cfg Config) (*Member, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Member{
		cfg:        cfg,
		log:        cfg.Logger.Named("group").With("group", cfg.Group),
		updates:    make(chan struct{}, 1),
		wake:       make(chan struct{}, 1),
		generation: -1,
		units:      sortedUnique(cfg.Units),
		owned:      make(map[string]*owning),
		held:       make(map[string]map[int32]bool),
		revokedAt:  make(map[Ownership]time.Time),
		lost:       &LostError{Reason: "not joined yet", At: time.Now()},
		joinReason: "worker starting",
		rebalances: RebalanceStats{Generation: -1},
	}
	return m, nil
}

func sortedUnique(units []string) []string {
	out := slices.Clone(units)
	sort.Strings(out)
	return slices.Compact(out)
}

// Updates is signalled whenever Assignment changes. It holds at most one
// signal: read Assignment after each.
func (m *Member) Updates() <-chan struct{} { return m.updates }

func (m *Member) notify() {
	select {
	case m.updates <- struct{}{}:
	default:
	}
}

func (m *Member) wakeUp() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// SetUnits replaces the units the group runs, as far as this worker knows.
// A leader rebalances the group when they changed.
func (m *Member) SetUnits(units []string) {
	units = sortedUnique(units)
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Equal(units, m.units) {
		return
	}
	m.units = units
	if m.view.IsLeader {
		m.forceJoin = "the units changed"
		m.wakeUp()
	}
}

// Assignment returns what this member knows of its assignment now.
func (m *Member) Assignment() Assignment {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.view
	a.Members = slices.Clone(a.Members)
	a.Plans = maps.Clone(m.plans)
	a.Owned, a.Revoked, a.Fenced = nil, nil, nil
	for u, o := range m.owned {
		ow := Ownership{Unit: u, Generation: o.gen}
		switch {
		case o.revoked:
			a.Revoked = append(a.Revoked, ow)
		case m.established:
			a.Owned = append(a.Owned, ow)
		}
	}
	for u, gens := range m.held {
		for g := range gens {
			if o := m.owned[u]; o == nil || o.gen != g {
				a.Fenced = append(a.Fenced, Ownership{Unit: u, Generation: g})
			}
		}
	}
	for _, s := range [][]Ownership{a.Owned, a.Revoked, a.Fenced} {
		sort.Slice(s, func(i, j int) bool {
			if s[i].Unit != s[j].Unit {
				return s[i].Unit < s[j].Unit
			}
			return s[i].Generation < s[j].Generation
		})
	}
	switch {
	case m.lost != nil:
		a.Err = m.lost
	case len(a.Fenced) > 0 && m.lastLoss != nil:
		a.Err = m.lastLoss
	case m.mismatch != nil:
		a.Err = m.mismatch
	default:
		a.Err = nil
	}
	return a
}

// Owns reports whether this member still owns unit under the ownership
// given in generation gen (Ownership.Generation), and until when: the end
// of its lease. A runtime calls it before every write that a new owner must
// not see overwritten (a source-offset commit), and bounds that write by
// the returned time. It is false once the unit was released, once the
// membership was lost, once the lease ended (no heartbeat acknowledged for
// min(SessionTimeout, RebalanceTimeout) - FenceMargin), before the lease of
// a new member's assignment is established (its first heartbeat
// answered), and for an ownership of another generation. A revoked unit stays owned until it is
// released, so that its final commit can be made.
func (m *Member) Owns(unit string, gen int32) (until time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.owned[unit]
	if o == nil || o.gen != gen || m.lost != nil || !m.established || !time.Now().Before(m.leaseEnd) {
		return time.Time{}, false
	}
	return m.leaseEnd, true
}

// Release tells the member that this worker stopped running unit under the
// ownership of generation gen: it will not write for it again. The member
// reports it no longer holds the unit when it next joins, so that the
// leader can give it to another member; it rejoins as soon as nothing it
// was told to stop is still running.
func (m *Member) Release(unit string, gen int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gens := m.held[unit]
	if !gens[gen] {
		return
	}
	delete(gens, gen)
	if len(gens) == 0 {
		delete(m.held, unit)
	}
	ownedToo := false
	if o := m.owned[unit]; o != nil && o.gen == gen {
		ownedToo = !o.revoked
		delete(m.owned, unit)
	}
	if t, ok := m.revokedAt[Ownership{unit, gen}]; ok {
		m.log.Debug("unit released", "unit", unit, "generation", gen, "after", time.Since(t))
		delete(m.revokedAt, Ownership{unit, gen})
	}
	m.notify()
	if ownedToo {
		m.forceJoin = "a unit was given back"
	}
	if ownedToo || !m.stoppingLocked() {
		m.wakeUp()
	}
}

// stoppingLocked reports whether any revoked or fenced unit still runs.
func (m *Member) stoppingLocked() bool {
	for _, o := range m.owned {
		if o.revoked {
			return true
		}
	}
	for u, gens := range m.held {
		for g := range gens {
			if o := m.owned[u]; o == nil || o.gen != g {
				return true
			}
		}
	}
	return false
}

// Run joins the group and keeps this member in it until ctx is cancelled,
// then leaves the group and returns nil. It returns early with a
// *GroupError when the coordinator refuses the member for a reason that
// retrying cannot fix. Stop the units and commit their offsets before
// cancelling ctx: once Run leaves the group this member owns nothing.
// A Member runs once.
func (m *Member) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("group: Member.Run called twice")
	}
	m.started = true
	m.mu.Unlock()
	defer m.leave(ctx)

	m.log.Info("joining worker group", "worker", m.cfg.Worker.ID, "config", m.cfg.Fingerprint.String())
	bo := backoff{max: 5 * time.Second}
	for ctx.Err() == nil {
		err := m.joinAndSync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ge *GroupError
		if errors.As(err, &ge) {
			m.lose(ge.Error())
			m.log.Error("worker group refused this member", "error", err)
			return err
		}
		if err != nil {
			d := bo.next()
			m.log.Warn("joining the worker group failed; retrying", "error", err, "backoff", d)
			sleepCtx(ctx, d)
			continue
		}
		bo.reset()
		m.heartbeat(ctx)
	}
	return nil
}

// leave gives up every unit and leaves the group.
func (m *Member) leave(ctx context.Context) {
	m.mu.Lock()
	m.done = true
	id := m.memberID
	clear(m.owned)
	m.established = false
	m.lost = &LostError{Reason: "left the group", At: time.Now()}
	if m.leaseTimer != nil {
		m.leaseTimer.Stop()
	}
	m.mu.Unlock()
	m.notify()
	if id == "" {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(5*time.Second, m.cfg.SessionTimeout))
	defer cancel()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = m.cfg.Group
	req.MemberID = id
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = id
	lm.Reason = kmsg.StringPtr("mm2go worker stopping")
	req.Members = []kmsg.LeaveGroupRequestMember{lm}
	resp, err := req.RequestWith(lctx, m.cfg.Client)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
		for _, r := range resp.Members {
			if err == nil {
				err = kerr.ErrorForCode(r.ErrorCode)
			}
		}
	}
	if err != nil {
		m.log.Warn("leaving the worker group failed; the coordinator evicts this member after the session timeout", "error", err, "session_timeout", m.cfg.SessionTimeout)
		return
	}
	m.log.Info("left the worker group")
}

// lose ends this member's ownership of every unit at once. Units still
// running become fenced: the runtime stops them without committing.
func (m *Member) lose(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loseLocked(reason)
}

func (m *Member) loseLocked(reason string) {
	if m.lost != nil {
		return
	}
	n := len(m.owned)
	clear(m.owned)
	m.established = false
	m.lost = &LostError{Reason: reason, At: time.Now()}
	m.lastLoss = m.lost
	if !m.joining {
		m.forceJoin = reason // else the rebalance under way gives units again
	}
	if n > 0 {
		m.log.Error("lost group membership: this worker stops its units without committing", "reason", reason, "units", n)
	} else {
		m.log.Warn("lost group membership", "reason", reason)
	}
	m.notify()
	m.wakeUp()
}

// extendLease records that a group request sent at sent was answered in a
// way that restarted the coordinator's clocks for this member. Every such
// answer restarts its session (the coordinator cannot evict it before
// sent + SessionTimeout). A stable one (a heartbeat answered NONE, a
// JoinGroup that completed a generation) also says that any rebalance that
// could leave this member out begins later, and so cannot complete without
// it before sent + RebalanceTimeout; a heartbeat answered
// REBALANCE_IN_PROGRESS says nothing of the kind. The lease ends FenceMargin
// before the earlier of the two.
func (m *Member) extendLease(sent time.Time, stable bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return
	}
	if sent.After(m.ackSession) {
		m.ackSession = sent
	}
	if stable && sent.After(m.ackStable) {
		m.ackStable = sent
	}
	end := m.ackSession.Add(m.cfg.SessionTimeout)
	if e := m.ackStable.Add(m.cfg.RebalanceTimeout); e.Before(end) {
		end = e
	}
	end = end.Add(-m.cfg.FenceMargin)
	if !end.After(m.leaseEnd) {
		return
	}
	m.leaseEnd = end
	if m.leaseTimer == nil {
		m.leaseTimer = time.AfterFunc(time.Until(end), m.leaseExpired)
	} else {
		m.leaseTimer.Reset(time.Until(end))
	}
}

// establish records that a heartbeat sent at sent, after the assignment
// arrived, was answered NONE (extendLease has taken it): the member is in
// that generation and the group is stable, so a lease that runs now is
// one this member's units can start under. Until then the ownerships of
// a member that had no running lease (it joined, or it lost its
// membership) are not established: the lease of the requests that formed
// the generation may have ended before the assignment arrived (a
// JoinGroup waits at the coordinator for the rebalance, up to
// RebalanceTimeout), and a lease that never ran is not a loss.
func (m *Member) establish(sent time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done || m.established || m.lost != nil || m.awaitFrom.IsZero() || sent.Before(m.awaitFrom) || !time.Now().Before(m.leaseEnd) {
		return
	}
	m.established = true
	m.log.Info("lease established: the units of the assignment start", "generation", m.view.Generation,
		"waited", time.Since(m.awaitFrom).Round(time.Millisecond), "lease_end", m.leaseEnd.Format(time.RFC3339Nano))
	m.notify()
}

func (m *Member) leaseExpired() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done || m.lost != nil || !m.established {
		return // nothing runs under a lease that was never established
	}
	if now := time.Now(); now.Before(m.leaseEnd) {
		m.leaseTimer.Reset(m.leaseEnd.Sub(now))
		return
	}
	m.loseLocked(m.leaseEndedLocked())
}

// leaseEndedLocked says why a lease ended.
func (m *Member) leaseEndedLocked() string {
	return fmt.Sprintf("the lease of this worker's units ended: the last request the coordinator acknowledged in a way that keeps this worker's session was sent %v ago (session timeout %v, rebalance timeout %v, minus the fence margin %v): the coordinator is unreachable or evicted this worker",
		time.Since(m.ackSession).Round(time.Millisecond), m.cfg.SessionTimeout, m.cfg.RebalanceTimeout, m.cfg.FenceMargin)
}

// joinRequest builds a JoinGroup request with this member's metadata.
func (m *Member) joinRequest() *kmsg.JoinGroupRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	md := metadata{Worker: m.cfg.Worker, Fingerprint: m.cfg.Fingerprint, Held: slices.Sorted(maps.Keys(m.held))}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group = m.cfg.Group
	req.SessionTimeoutMillis = int32(m.cfg.SessionTimeout.Milliseconds())
	req.RebalanceTimeoutMillis = int32(m.cfg.RebalanceTimeout.Milliseconds())
	req.MemberID = m.memberID
	req.ProtocolType = ProtocolType
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = Protocol
	p.Metadata = encodeMetadata(md)
	req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	req.Reason = kmsg.StringPtr(m.joinReason)
	m.reported = make(map[string]bool, len(md.Held))
	for _, u := range md.Held {
		m.reported[u] = true
	}
	m.forceJoin = ""
	return req
}

// joinAndSync runs one rebalance: JoinGroup (again after MEMBER_ID_REQUIRED
// or UNKNOWN_MEMBER_ID), the leader's assignment, SyncGroup.
func (m *Member) joinAndSync(ctx context.Context) error {
	m.mu.Lock()
	m.joining = true
	if m.rebStart.IsZero() {
		m.rebStart = time.Now()
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.joining = false
		m.mu.Unlock()
	}()
	for attempt := 0; ; attempt++ {
		if attempt > 3 {
			return errors.New("join: the coordinator asked for a new member id three times in a row")
		}
		req := m.joinRequest()
		sent := time.Now()
		resp, err := m.requestWhileRebalancing(ctx, req)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		jr := resp.(*kmsg.JoinGroupResponse)
		switch err := kerr.ErrorForCode(jr.ErrorCode); {
		case err == nil:
		case errors.Is(err, kerr.MemberIDRequired):
			m.mu.Lock()
			m.memberID = jr.MemberID
			m.mu.Unlock()
			continue
		case errors.Is(err, kerr.UnknownMemberID):
			m.resetMember("the coordinator no longer knows this member (evicted)")
			continue
		default:
			return m.classify("join", err)
		}
		m.mu.Lock()
		prev := m.generation
		m.memberID, m.generation = jr.MemberID, jr.Generation
		units := m.units
		m.mu.Unlock()
		if jr.Generation > prev {
			// A rebalance completed with this member in it: the
			// coordinator restarted its session then. A JoinGroup
			// answered in a stable group (same generation) restarts
			// nothing, and neither does a SyncGroup in one.
			m.extendLease(sent, true)
		}

		sreq := kmsg.NewPtrSyncGroupRequest()
		sreq.Group = m.cfg.Group
		sreq.Generation = jr.Generation
		sreq.MemberID = jr.MemberID
		sreq.ProtocolType = kmsg.StringPtr(ProtocolType)
		sreq.Protocol = kmsg.StringPtr(Protocol)
		var lp leaderPlan
		isLeader := jr.LeaderID == jr.MemberID
		if isLeader {
			lp = lead(jr.MemberID, units, jr.Members, m.cfg.Kind)
			sreq.GroupAssignment = lp.sync
			for id, err := range lp.undecodable {
				m.log.Error("member metadata unreadable; it gets no units", "member", id, "error", err)
			}
		}
		resp, err = m.requestWhileRebalancing(ctx, sreq)
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		sr := resp.(*kmsg.SyncGroupResponse)
		switch err := kerr.ErrorForCode(sr.ErrorCode); {
		case err == nil:
		case errors.Is(err, kerr.RebalanceInProgress):
			m.setJoinReason("a rebalance began before the assignment arrived")
			return nil // the heartbeat loop sees the forced rejoin
		case errors.Is(err, kerr.UnknownMemberID):
			m.resetMember("the coordinator no longer knows this member (evicted)")
			m.setJoinReason("rejoining as a new member")
			return nil
		case errors.Is(err, kerr.IllegalGeneration):
			m.lose("the group moved to a new generation before this member synced")
			m.setJoinReason("rejoining the new generation")
			return nil
		default:
			return m.classify("sync", err)
		}
		a, err := decodeAssignment(sr.MemberAssignment)
		if err != nil {
			m.lose(err.Error())
			m.setJoinReason("the last assignment was unreadable")
			return err
		}
		if took, ok := m.apply(jr.Generation, jr.MemberID, a, isLeader, lp); ok && m.cfg.OnRebalance != nil {
			m.cfg.OnRebalance(took)
		}
		return nil
	}
}

func (m *Member) setJoinReason(r string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forceJoin = r
	m.joinReason = r
	m.wakeUp()
}

// resetMember forgets the member id: the next JoinGroup joins as a new
// member. Ownership ends.
func (m *Member) resetMember(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.memberID, m.generation = "", -1
	m.loseLocked(reason)
	m.joinReason = reason
}

// classify turns a coordinator error into a *GroupError when retrying cannot
// fix it, and a plain error otherwise.
func (m *Member) classify(step string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, kerr.InconsistentGroupProtocol):
		hint = "the group is used by clients of another kind (consumers, a Kafka Connect cluster, or mm2go workers of an incompatible version); give these workers a group of their own (mm2go.group.id)"
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		hint = "grant this worker's principal READ on the group"
	case errors.Is(err, kerr.InvalidSessionTimeout):
		hint = fmt.Sprintf("the brokers refuse a session timeout of %v; set one within their group.min.session.timeout.ms and group.max.session.timeout.ms", m.cfg.SessionTimeout)
	case errors.Is(err, kerr.InvalidGroupID):
		hint = "set a valid group id (mm2go.group.id)"
	case errors.Is(err, kerr.GroupMaxSizeReached):
		hint = "the group has the most members the brokers allow (group.max.size); run fewer workers or raise the limit"
	case errors.Is(err, kerr.UnsupportedVersion):
		hint = "the brokers do not support this request version"
	default:
		return fmt.Errorf("%s: %w", step, err)
	}
	return &GroupError{Group: m.cfg.Group, Err: err, Hint: hint}
}

// apply takes the assignment of generation gen.
func (m *Member) apply(gen int32, memberID string, a assignment, isLeader bool, lp leaderPlan) (took time.Duration, completed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return 0, false
	}
	now := time.Now()
	if m.established && !now.Before(m.leaseEnd) {
		// The lease the running units held ended while the rebalance
		// ran, and the lease timer has not reported it yet: that is a
		// loss (their runs stop without committing).
		m.loseLocked(m.leaseEndedLocked())
	}
	given := make(map[string]bool, len(a.Owned))
	for _, u := range a.Owned {
		given[u] = true
		if o := m.owned[u]; o != nil {
			o.revoked = false
			continue
		}
		m.owned[u] = &owning{gen: gen}
		if m.held[u] == nil {
			m.held[u] = make(map[int32]bool)
		}
		m.held[u][gen] = true
	}
	took = max(0, now.Sub(m.rebStart))
	m.rebStart = time.Time{}
	m.rebalances.Completed++
	m.rebalances.Generation = gen
	m.rebalances.LastCompleted = now
	revoked := 0
	for u, o := range m.owned {
		if !given[u] && !o.revoked {
			o.revoked = true
			m.revokedAt[Ownership{u, o.gen}] = now
			revoked++
		}
	}
	m.lost = nil
	if !m.established {
		// Nothing of this assignment runs before a heartbeat sent from
		// now on is answered NONE (establish).
		m.awaitFrom = now
	}
	m.mismatch = nil
	if a.Error == errConfigMismatch {
		m.mismatch = &ConfigMismatchError{Worker: m.cfg.Worker, Config: m.cfg.Fingerprint, Leader: a.Leader}
	}
	m.view = Assignment{Generation: gen, MemberID: memberID, Leader: a.Leader, IsLeader: isLeader, Members: a.Members}
	m.plans = nil
	if isLeader {
		m.plans = lp.plans
	}
	if m.mismatch != nil {
		m.log.Error("this worker's configuration is not the group's; it runs nothing", "error", m.mismatch)
	}
	m.log.Info("assignment received", "generation", gen, "leader", a.Leader.Worker.ID, "is_leader", isLeader,
		"members", len(a.Members), "owned", len(a.Owned), "revoked", revoked, "awaiting_lease", !m.established)
	m.notify()
	return took, true
}

// Rebalances returns what this member counts of its rebalances.
func (m *Member) Rebalances() RebalanceStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.rebalances
	st.Rebalancing = !m.rebStart.IsZero()
	return st
}

// heartbeat heartbeats until the member must rejoin or ctx is cancelled.
func (m *Member) heartbeat(ctx context.Context) {
	m.mu.Lock()
	first := m.cfg.HeartbeatInterval
	if !m.established {
		first = 0 // the assignment's units start once this is answered
	}
	m.mu.Unlock()
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		if m.mustRejoin() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
			continue
		case <-t.C:
		}
		m.mu.Lock()
		id, gen := m.memberID, m.generation
		m.mu.Unlock()
		sent := time.Now()
		hctx, cancel := context.WithTimeout(ctx, m.cfg.HeartbeatInterval)
		code, err := m.sendHeartbeat(hctx, id, gen)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("heartbeat failed; retrying", "error", err)
			t.Reset(min(m.cfg.HeartbeatInterval, time.Second))
			continue
		}
		t.Reset(m.cfg.HeartbeatInterval)
		switch err := kerr.ErrorForCode(code); {
		case err == nil:
			m.extendLease(sent, true)
			m.establish(sent)
		case errors.Is(err, kerr.RebalanceInProgress):
			m.extendLease(sent, false)
			m.setJoinReason("the group is rebalancing")
			return
		case errors.Is(err, kerr.UnknownMemberID):
			m.resetMember("the coordinator no longer knows this member (evicted after the session timeout)")
			return
		case errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.FencedInstanceID):
			m.lose(fmt.Sprintf("heartbeat: %v", err))
			return
		default:
			m.log.Warn("heartbeat refused; retrying", "error", err)
		}
	}
}

// mustRejoin reports whether the member must send a JoinGroup: it was told
// to, or it released units that the last JoinGroup reported, so that the
// leader can give them out.
func (m *Member) mustRejoin() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forceJoin != "" {
		m.joinReason = m.forceJoin
		return true
	}
	if m.stoppingLocked() {
		return false // rejoin once every revoked unit is released
	}
	for u := range m.reported {
		if m.held[u] == nil {
			m.joinReason = "units released"
			return true
		}
	}
	return false
}

func (m *Member) sendHeartbeat(ctx context.Context, id string, gen int32) (int16, error) {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group = m.cfg.Group
	req.MemberID = id
	req.Generation = gen
	resp, err := req.RequestWith(ctx, m.cfg.Client)
	if err != nil {
		return 0, err
	}
	return resp.ErrorCode, nil
}

// requestWhileRebalancing sends a JoinGroup or SyncGroup request and, while
// it waits for the answer, keeps heartbeating with the generation it knows.
// Kafka needs no heartbeats from a member waiting in a rebalance; kfake
// evicts one after the session timeout (see the package doc).
func (m *Member) requestWhileRebalancing(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	hctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(m.cfg.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
			m.mu.Lock()
			id, gen := m.memberID, m.generation
			m.mu.Unlock()
			if id == "" || gen < 0 {
				continue
			}
			sent := time.Now()
			rctx, cancel := context.WithTimeout(hctx, m.cfg.HeartbeatInterval)
			code, err := m.sendHeartbeat(rctx, id, gen)
			cancel()
			if err != nil {
				continue
			}
			switch kerr.ErrorForCode(code) {
			case nil:
				m.extendLease(sent, true)
			case kerr.RebalanceInProgress:
				m.extendLease(sent, false)
			}
		}
	}()
	resp, err := m.cfg.Client.Request(ctx, req)
	stop()
	<-done
	return resp, err
}

// backoff is an exponential backoff with jitter: 100ms, 200ms, ... up to max.
type backoff struct {
	max     time.Duration
	attempt int
}

func (b *backoff) next() time.Duration {
	d := 100 * time.Millisecond << min(b.attempt, 16)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.attempt++
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func (b *backoff) reset() { b.attempt = 0 }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
