package group

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var churnSeeds = flag.Int("churn-seeds", 8, "seeds TestMember_Churn runs (150 take 20s)")

// The membership tests run in synctest bubbles: kfake and the clients talk
// over a kfake.VirtualNetwork, and every timer (heartbeats, leases, the
// coordinator's session and rebalance timeouts) runs on the fake clock, so
// Connect's default timeouts (10s session, 3s heartbeats) take no real
// time. Where kfake differs from Kafka is written in the package doc
// ("kfake"); the tests do not assume which member leads after a leader
// leaves.

type env struct {
	t    *testing.T
	vnet *kfake.VirtualNetwork
	c    *kfake.Cluster

	mu          sync.Mutex
	partitioned map[string]bool // member ids whose group requests are dropped
	workers     []*worker
}

// newEnv starts a fake cluster in the current synctest bubble.
func newEnv(t *testing.T, opts ...kfake.Opt) *env {
	t.Helper()
	e := &env{t: t, vnet: &kfake.VirtualNetwork{}, partitioned: map[string]bool{}}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(9092), kfake.ListenFn(e.vnet.Listen)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	// A partitioned member's group requests never reach the coordinator:
	// the connection drops, as in a network partition.
	for _, key := range []int16{int16(kmsg.JoinGroup), int16(kmsg.Heartbeat), int16(kmsg.SyncGroup)} {
		c.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			var id string
			switch r := req.(type) {
			case *kmsg.JoinGroupRequest:
				id = r.MemberID
			case *kmsg.HeartbeatRequest:
				id = r.MemberID
			case *kmsg.SyncGroupRequest:
				id = r.MemberID
			}
			e.mu.Lock()
			drop := id != "" && e.partitioned[id]
			e.mu.Unlock()
			if drop {
				return nil, errors.New("partitioned"), true
			}
			return nil, nil, false
		})
	}
	t.Cleanup(func() {
		for _, w := range e.workers {
			w.stop()
		}
		c.Close()
	})
	return e
}

func (e *env) partition(w *worker, on bool) {
	id := w.m.Assignment().MemberID
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partitioned[id] = on
}

// worker is a Member with a stand-in runtime: it runs what it owns and,
// told to stop a unit, checks Owns (as a final commit would), then
// releases it, at once or when let go.
type worker struct {
	t      *testing.T
	id     string
	m      *Member
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan error
	rtDone chan struct{}

	mu         sync.Mutex
	hold       bool               // keep stopped units until releaseAll
	stopping   map[Ownership]bool // told to stop, not released
	commitOK   map[Ownership]bool // Owns at the final commit
	stopped    bool
	generation map[string][]int32 // every generation each unit was started under
	startedAt  map[Ownership]time.Time
	unowned    []Ownership // started while Owns was false
	lostSeen   []time.Time // when the runtime saw a LostError
}

type workerOpt func(*Config)

func (e *env) start(id, hash string, units []string, opts ...workerOpt) *worker {
	e.t.Helper()
	w := e.build(id, hash, units, opts...)
	w.run()
	return w
}

// build makes a worker and its Member without running them: run does.
func (e *env) build(id, hash string, units []string, opts ...workerOpt) *worker {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.ListenAddrs()...), kgo.Dialer(e.vnet.DialContext), kgo.ClientID(id))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := Config{
		Client:      cl,
		Group:       "mm2go-test",
		Worker:      Worker{ID: id, URL: "http://" + id},
		Fingerprint: Fingerprint{Hash: hash, Label: "flows-" + hash + ".yaml"},
		Units:       units,
		Logger:      hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Debug, Output: e.t.Output()}),
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := NewMember(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	w := &worker{t: e.t, id: id, m: m, cl: cl, done: make(chan error, 1), rtDone: make(chan struct{}),
		stopping: map[Ownership]bool{}, commitOK: map[Ownership]bool{}, generation: map[string][]int32{},
		startedAt: map[Ownership]time.Time{}}
	e.workers = append(e.workers, w)
	return w
}

// run runs the worker's Member and its stand-in runtime.
func (w *worker) run() {
	ctx, cancel := context.WithCancel(context.Background())
	w.mu.Lock()
	w.cancel = cancel
	w.mu.Unlock()
	go func() { w.done <- w.m.Run(ctx) }()
	go w.runtime(ctx)
}

// runtime reconciles what the worker runs with its assignment.
func (w *worker) runtime(ctx context.Context) {
	defer close(w.rtDone)
	running := map[Ownership]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.m.Updates():
		}
		a := w.m.Assignment()
		w.mu.Lock()
		if _, lost := a.Err.(*LostError); lost {
			w.lostSeen = append(w.lostSeen, time.Now())
		}
		for _, o := range a.Owned {
			if !running[o] {
				running[o] = true
				w.generation[o.Unit] = append(w.generation[o.Unit], o.Generation)
				w.startedAt[o] = time.Now()
				if _, ok := w.m.Owns(o.Unit, o.Generation); !ok {
					w.unowned = append(w.unowned, o)
				}
			}
		}
		var release []Ownership
		for _, o := range append(a.Revoked, a.Fenced...) {
			if w.stopping[o] {
				continue
			}
			// A unit given and taken before the runtime saw it is
			// released all the same.
			if running[o] {
				delete(running, o)
				_, ok := w.m.Owns(o.Unit, o.Generation)
				w.commitOK[o] = ok
			}
			if w.hold {
				w.stopping[o] = true
			} else {
				release = append(release, o)
			}
		}
		w.mu.Unlock()
		for _, o := range release {
			w.m.Release(o.Unit, o.Generation)
		}
	}
}

func (w *worker) releaseAll() {
	w.mu.Lock()
	var rs []Ownership
	for o := range w.stopping {
		rs = append(rs, o)
	}
	clear(w.stopping)
	w.hold = false
	w.mu.Unlock()
	for _, o := range rs {
		w.m.Release(o.Unit, o.Generation)
	}
}

// stop stops the worker as a runtime must: units first, then the member.
func (w *worker) stop() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	cancel := w.cancel
	w.mu.Unlock()
	if cancel == nil { // built, never run
		w.cl.Close()
		return
	}
	cancel()
	<-w.rtDone
	select {
	case err := <-w.done:
		if err != nil {
			w.t.Errorf("worker %s: Run: %v", w.id, err)
		}
	case <-time.After(time.Minute):
		w.t.Errorf("worker %s: Run did not return a minute after its context was cancelled", w.id)
	}
	w.cl.Close()
}

func (w *worker) owned() []string {
	var out []string
	for _, o := range w.m.Assignment().Owned {
		out = append(out, o.Unit)
	}
	return out
}

// waitUntil polls cond every 100ms of fake time, for at most 2 minutes.
func waitUntil(t *testing.T, what string, cond func() bool, explain ...func()) {
	t.Helper()
	for range 1200 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, f := range explain {
		f()
	}
	t.Fatalf("gave up waiting until %s", what)
}

// watchOwnership checks, every 50ms of fake time until stop is called, that
// no unit is owned (Owns true) by two workers at once.
func watchOwnership(t *testing.T, ws ...*worker) (stop func()) {
	ws = slices.Clone(ws)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			owners := map[string]string{}
			for _, w := range ws {
				a := w.m.Assignment()
				for _, o := range append(a.Owned, a.Revoked...) {
					if _, ok := w.m.Owns(o.Unit, o.Generation); !ok {
						continue
					}
					if other, dup := owners[o.Unit]; dup {
						t.Errorf("at %v unit %s is owned by %s and %s", time.Now().Format(time.TimeOnly), o.Unit, other, w.id)
					}
					owners[o.Unit] = w.id
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-exited }) }
}

func counts(ws ...*worker) []int {
	var out []int
	for _, w := range ws {
		out = append(out, len(w.owned()))
	}
	return out
}

func sameInts(a []int, b ...int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestMember_GrowAndShrink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 6)
		w1 := e.start("w1", "h1", units)
		waitUntil(t, "w1 owns every unit", func() bool { return sameInts(counts(w1), 6) })
		if a := w1.m.Assignment(); !a.IsLeader || a.Err != nil || a.Leader.Worker.ID != "w1" {
			t.Fatalf("w1 alone: leader %v, is leader %v, err %v", a.Leader, a.IsLeader, a.Err)
		}
		stop := watchOwnership(t, w1)
		defer stop()

		w2 := e.start("w2", "h1", units)
		w3 := e.start("w3", "h1", units)
		stop()
		stop = watchOwnership(t, w1, w2, w3)
		waitUntil(t, "three workers own two units each", func() bool { return sameInts(counts(w1, w2, w3), 2, 2, 2) })
		// w1 kept two of its units and moved four, once each.
		if n := len(w1.generation); n != 6 {
			t.Fatalf("w1 started %d units, want 6", n)
		}
		for u, gens := range w1.generation {
			if len(gens) != 1 {
				t.Errorf("w1 started %s %d times", u, len(gens))
			}
		}
		a := w2.m.Assignment()
		if len(a.Members) != 3 || a.Leader.Worker.ID != "w1" || a.Plans != nil {
			t.Fatalf("w2's view: %d members, leader %s, plans %v", len(a.Members), a.Leader.Worker.ID, a.Plans)
		}

		// A graceful leave moves w2's units at once, not after the
		// session timeout.
		left := time.Now()
		w2.stop()
		waitUntil(t, "w1 and w3 own three units each", func() bool { return sameInts(counts(w1, w3), 3, 3) })
		if d := time.Since(left); d >= DefaultSessionTimeout {
			t.Fatalf("w2's units moved %v after it left, not sooner than the session timeout", d)
		}
		t.Logf("units of a worker that left moved after %v", time.Since(left))
		stop()
	})
}

// TestMember_PartitionedWorkerFencedBeforeNewOwner cuts one worker off the
// coordinator. Its units move only after the coordinator evicted it, and it
// stops owning them before that: no instant has two owners, and the gap is
// at least the fence margin.
func TestMember_PartitionedWorkerFencedBeforeNewOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 4)
		w1 := e.start("w1", "h1", units)
		w2 := e.start("w2", "h1", units)
		waitUntil(t, "two units each", func() bool { return sameInts(counts(w1, w2), 2, 2) })
		stop := watchOwnership(t, w1, w2)
		defer stop()

		victim, other := w1, w2
		taken := victim.owned()
		cut := time.Now()
		e.partition(victim, true)

		var lostAt, movedAt time.Time
		waitUntil(t, "the other worker owns every unit", func() bool {
			if lostAt.IsZero() {
				if _, ok := victim.m.Assignment().Err.(*LostError); ok {
					lostAt = time.Now()
				}
			}
			return len(other.owned()) == 4
		})
		movedAt = time.Now()
		if lostAt.IsZero() {
			t.Fatalf("the partitioned worker never reported losing its membership")
		}
		for _, u := range taken {
			for _, g := range victim.generation[u] {
				if _, ok := victim.m.Owns(u, g); ok {
					t.Errorf("the partitioned worker still owns %s (generation %d) when the other worker got it", u, g)
				}
			}
		}
		lease := DefaultSessionTimeout - DefaultFenceMargin
		if d := lostAt.Sub(cut); d > lease {
			t.Errorf("membership lost %v after the partition, later than the lease %v", d, lease)
		}
		if gap := movedAt.Sub(lostAt); gap < DefaultFenceMargin {
			t.Errorf("the other worker got the units %v after the partitioned one stopped owning them, less than the fence margin", gap)
		}
		t.Logf("partitioned at 0, fenced at %v, units moved at %v", lostAt.Sub(cut), movedAt.Sub(cut))
		// The fenced worker's stand-in runtime could not commit.
		victim.mu.Lock()
		for o, ok := range victim.commitOK {
			if ok && slices.Contains(taken, o.Unit) {
				t.Errorf("the fenced worker was allowed a final commit for %v", o)
			}
		}
		victim.mu.Unlock()

		// The partition heals: the evicted worker rejoins as a new member
		// and gets its share back, each unit under a new generation.
		e.partition(victim, false)
		waitUntil(t, "two units each again", func() bool { return sameInts(counts(w1, w2), 2, 2) })
		if a := victim.m.Assignment(); a.Err != nil {
			t.Fatalf("after rejoining: %v", a.Err)
		}
	})
}

// TestMember_RevokedUnitOwnedUntilReleased: a revoked unit stays owned (its
// final commit may run) until it is released, and only then goes to the new
// owner.
func TestMember_RevokedUnitOwnedUntilReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 4)
		w1 := e.start("w1", "h1", units)
		waitUntil(t, "w1 owns every unit", func() bool { return sameInts(counts(w1), 4) })
		w1.mu.Lock()
		w1.hold = true
		w1.mu.Unlock()
		stop := watchOwnership(t, w1)
		w2 := e.start("w2", "h1", units)
		stop()
		stop = watchOwnership(t, w1, w2)
		defer stop()
		waitUntil(t, "w1 has two units revoked", func() bool { return len(w1.m.Assignment().Revoked) == 2 })
		time.Sleep(30 * time.Second) // heartbeats go on; nothing moves
		a := w1.m.Assignment()
		for _, o := range a.Revoked {
			if _, ok := w1.m.Owns(o.Unit, o.Generation); !ok {
				t.Errorf("w1 lost %v before releasing it", o)
			}
		}
		if n := len(w2.owned()); n != 0 {
			t.Fatalf("w2 owns %d units before w1 released any", n)
		}
		w1.mu.Lock()
		for o, ok := range w1.commitOK {
			if !ok {
				t.Errorf("the final commit of revoked %v was refused", o)
			}
		}
		w1.mu.Unlock()
		w1.releaseAll()
		waitUntil(t, "two units each", func() bool { return sameInts(counts(w1, w2), 2, 2) })
		for _, o := range a.Revoked {
			if _, ok := w1.m.Owns(o.Unit, o.Generation); ok {
				t.Errorf("w1 still owns released %v", o)
			}
		}
	})
}

// TestMember_EvictionReportedAtOnce: a heartbeat answered UNKNOWN_MEMBER_ID
// ends ownership at that instant; the worker rejoins and gets its units back
// under a new generation.
func TestMember_EvictionReportedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 2)
		w1 := e.start("w1", "h1", units)
		waitUntil(t, "w1 owns every unit", func() bool { return sameInts(counts(w1), 2) })
		before := w1.m.Assignment().Owned
		var evictedAt time.Time
		var once sync.Once
		e.c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = kerr.UnknownMemberID.Code
			once.Do(func() { evictedAt = time.Now() })
			return resp, nil, true
		})
		waitUntil(t, "w1 reports the eviction", func() bool {
			_, lost := w1.m.Assignment().Err.(*LostError)
			return lost || w1.m.Assignment().Generation > 1
		})
		for _, o := range before {
			if _, ok := w1.m.Owns(o.Unit, o.Generation); ok {
				t.Errorf("w1 still owns %v after the coordinator forgot it", o)
			}
		}
		waitUntil(t, "w1 owns its units again", func() bool {
			a := w1.m.Assignment()
			return a.Err == nil && len(a.Owned) == 2 && a.Owned[0].Generation != before[0].Generation
		})
		if evictedAt.IsZero() {
			t.Fatal("the injected eviction never ran")
		}
	})
}

// TestMember_ConfigMismatch: the group runs its leader's configuration; a
// worker with another one runs nothing and says why, until the leader is
// gone (a rolling update reaches the leader last or first: either way the
// group ends on one configuration).
func TestMember_ConfigMismatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 4)
		w1 := e.start("w1", "aaaaaaaaaaaaaaaa", units)
		waitUntil(t, "w1 owns every unit", func() bool { return sameInts(counts(w1), 4) })
		w2 := e.start("w2", "bbbbbbbbbbbbbbbb", units)
		var mm *ConfigMismatchError
		waitUntil(t, "w2 is told its configuration differs", func() bool { return errors.As(w2.m.Assignment().Err, &mm) })
		msg := mm.Error()
		for _, want := range []string{"sha256 aaaaaaaaaaaa (flows-aaaaaaaaaaaaaaaa.yaml)", "sha256 bbbbbbbbbbbb (flows-bbbbbbbbbbbbbbbb.yaml)", "worker w1 at http://w1", "roll the same file out to every worker"} {
			if !strings.Contains(msg, want) {
				t.Errorf("mismatch error %q does not say %q", msg, want)
			}
		}
		if !sameInts(counts(w1, w2), 4, 0) {
			t.Fatalf("with a mismatched worker, units are %v, want [4 0]", counts(w1, w2))
		}
		// The leader's configuration wins until the leader goes.
		w1.stop()
		waitUntil(t, "w2 leads and owns every unit", func() bool {
			a := w2.m.Assignment()
			return a.Err == nil && a.IsLeader && len(a.Owned) == 4
		})
		// The old configuration now waits.
		w3 := e.start("w3", "aaaaaaaaaaaaaaaa", units)
		waitUntil(t, "w3 is told its configuration differs", func() bool { return errors.As(w3.m.Assignment().Err, &mm) })
		if mm.Leader.Worker.ID != "w2" || len(w3.owned()) != 0 {
			t.Fatalf("w3: leader %s, owns %v", mm.Leader.Worker.ID, w3.owned())
		}
	})
}

// TestMember_SetUnits: units added on the leader are assigned without a
// restart; units removed are revoked.
func TestMember_SetUnits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		w1 := e.start("w1", "h1", tasks("S", 2))
		w2 := e.start("w2", "h1", tasks("S", 2))
		waitUntil(t, "one unit each", func() bool { return sameInts(counts(w1, w2), 1, 1) })
		leader, follower := w1, w2
		if w2.m.Assignment().IsLeader {
			leader, follower = w2, w1
		}
		follower.m.SetUnits(tasks("S", 8)) // a follower's units do not count
		time.Sleep(10 * time.Second)
		if !sameInts(counts(w1, w2), 1, 1) {
			t.Fatalf("units changed on a follower reassigned: %v", counts(w1, w2))
		}
		leader.m.SetUnits(tasks("S", 6))
		waitUntil(t, "three units each", func() bool { return sameInts(counts(w1, w2), 3, 3) })
		leader.m.SetUnits(tasks("S", 2))
		waitUntil(t, "one unit each", func() bool { return sameInts(counts(w1, w2), 1, 1) })
	})
}

// TestMember_Refused: coordinator refusals that retrying cannot fix end
// Run with an error that says what to do.
func TestMember_Refused(t *testing.T) {
	t.Run("session timeout out of the brokers' bounds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, kfake.GroupMinSessionTimeout(30*time.Second))
			w := e.start("w1", "h1", nil)
			err := <-w.done
			w.done <- nil
			var ge *GroupError
			if !errors.As(err, &ge) || !errors.Is(err, kerr.InvalidSessionTimeout) || !strings.Contains(err.Error(), "group.min.session.timeout.ms") {
				t.Fatalf("Run = %v, want an invalid session timeout explained", err)
			}
		})
	})
	t.Run("group used by consumers", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.ListenAddrs()...), kgo.Dialer(e.vnet.DialContext))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			jr := kmsg.NewPtrJoinGroupRequest()
			jr.Group = "mm2go-test"
			jr.SessionTimeoutMillis = 30000
			jr.RebalanceTimeoutMillis = 30000
			jr.ProtocolType = "consumer"
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			jr.Protocols = []kmsg.JoinGroupRequestProtocol{p}
			if _, err := jr.RequestWith(context.Background(), cl); err != nil {
				t.Fatal(err)
			}
			w := e.start("w1", "h1", nil)
			err = <-w.done
			w.done <- nil
			if !errors.Is(err, kerr.InconsistentGroupProtocol) || !strings.Contains(err.Error(), "mm2go.group.id") {
				t.Fatalf("Run = %v, want an inconsistent group protocol explained", err)
			}
		})
	})
}

func TestNewMember_Validates(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ok := Config{Client: cl, Group: "g", Worker: Worker{ID: "w"}, Fingerprint: Fingerprint{Hash: "h"}}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no client", func(c *Config) { c.Client = nil }, "Config.Client is nil"},
		{"no group", func(c *Config) { c.Group = "" }, "Config.Group is empty"},
		{"no worker id", func(c *Config) { c.Worker.ID = "" }, "Config.Worker.ID is empty"},
		{"no hash", func(c *Config) { c.Fingerprint.Hash = "" }, "Config.Fingerprint.Hash is empty"},
		{"margin too big", func(c *Config) { c.FenceMargin = 10 * time.Second }, "leaves no lease"},
		{"heartbeat too slow", func(c *Config) { c.HeartbeatInterval = 5 * time.Second }, "more than half the lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := NewMember(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewMember = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := NewMember(ok); err != nil {
		t.Fatalf("NewMember(valid) = %v", err)
	}
}

// TestMember_HeartbeatsDropped: a worker whose heartbeats are dropped (and
// only those) stops owning its units when its lease ends, reports it at
// once, and rejoins; at no instant do two workers own a unit. Its JoinGroup
// gets through, and the rebalance it completes gives back none of the units
// it ran: they stay fenced, and the loss reported, until its runtime
// released them; they come back under a later generation.
func TestMember_HeartbeatsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 4)
		w1 := e.start("w1", "h1", units)
		w2 := e.start("w2", "h1", units)
		waitUntil(t, "two units each", func() bool { return sameInts(counts(w1, w2), 2, 2) })
		stop := watchOwnership(t, w1, w2)
		defer stop()
		victim := w1
		// Its runtime stops fenced units only when told (releaseAll), so
		// that the loss stays in view until the test looked at it.
		victim.mu.Lock()
		victim.hold = true
		victim.mu.Unlock()
		ran := victim.m.Assignment().Owned
		rebalances := victim.m.Rebalances().Completed
		id := victim.m.Assignment().MemberID
		var mu sync.Mutex
		var lastOK time.Time
		dropping := true
		e.c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
			e.c.KeepControl()
			mu.Lock()
			defer mu.Unlock()
			if req.(*kmsg.HeartbeatRequest).MemberID != id {
				return nil, nil, false
			}
			if dropping {
				return nil, errors.New("dropped"), true
			}
			return nil, nil, false
		})
		// The victim's last acknowledged heartbeat was at most one
		// interval ago.
		lastOK = time.Now().Add(-DefaultHeartbeatInterval)
		var lost *LostError
		waitUntil(t, "the victim reports its lease ended", func() bool { return errors.As(victim.m.Assignment().Err, &lost) })
		if lease := DefaultSessionTimeout - DefaultFenceMargin; lost.At.After(lastOK.Add(lease + DefaultHeartbeatInterval)) {
			t.Errorf("lease ended %v after the last acknowledged heartbeat could have been sent; want at most %v", lost.At.Sub(lastOK), lease+DefaultHeartbeatInterval)
		}
		for _, o := range ran {
			if _, ok := victim.m.Owns(o.Unit, o.Generation); ok {
				t.Errorf("the victim still owns %v after its lease ended", o)
			}
		}

		// Its JoinGroup is answered (only heartbeats are dropped): the
		// rebalance it completes gives back none of the units it ran,
		// and says why they stop.
		waitUntil(t, "the victim rejoined", func() bool { return victim.m.Rebalances().Completed > rebalances })
		a := victim.m.Assignment()
		if !slices.Equal(a.Fenced, ran) {
			t.Errorf("after rejoining, the victim's fenced units are %v, want the %v it ran", a.Fenced, ran)
		}
		if le := (*LostError)(nil); !errors.As(a.Err, &le) || le != lost {
			t.Errorf("after rejoining with fenced units, Err = %v, want the loss %v", a.Err, lost)
		}
		for _, o := range ran {
			if _, ok := victim.m.Owns(o.Unit, o.Generation); ok || slices.Contains(a.Owned, o) {
				t.Errorf("the victim owns %v again, under the generation its lease ended in", o)
			}
		}

		mu.Lock()
		dropping = false
		mu.Unlock()
		victim.releaseAll()
		waitUntil(t, "two units each again", func() bool {
			return sameInts(counts(w1, w2), 2, 2) && victim.m.Assignment().Err == nil
		})
		for _, o := range victim.m.Assignment().Owned {
			for _, r := range ran {
				if o.Unit == r.Unit && o.Generation <= r.Generation {
					t.Errorf("the victim runs %s under generation %d again, not a later one than %d", o.Unit, o.Generation, r.Generation)
				}
			}
		}
	})
}

// TestMember_LeaderLeaves: when the leader leaves, the new leader keeps
// every survivor's units where they are.
func TestMember_LeaderLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 6)
		w1 := e.start("w1", "h1", units)
		waitUntil(t, "w1 leads", func() bool { return w1.m.Assignment().IsLeader })
		w2 := e.start("w2", "h1", units)
		w3 := e.start("w3", "h1", units)
		waitUntil(t, "two units each", func() bool { return sameInts(counts(w1, w2, w3), 2, 2, 2) })
		stop := watchOwnership(t, w1, w2, w3)
		defer stop()
		before2, before3 := w2.m.Assignment().Owned, w3.m.Assignment().Owned
		w1.stop()
		waitUntil(t, "three units each", func() bool { return sameInts(counts(w2, w3), 3, 3) })
		a2, a3 := w2.m.Assignment(), w3.m.Assignment()
		if !a2.IsLeader && !a3.IsLeader {
			t.Fatalf("no survivor leads")
		}
		for _, c := range []struct {
			before []Ownership
			a      Assignment
		}{{before2, a2}, {before3, a3}} {
			for _, o := range c.before {
				found := false
				for _, n := range c.a.Owned {
					found = found || n == o
				}
				if !found {
					t.Errorf("%v moved when the leader left", o)
				}
			}
		}
	})
}

// TestMember_Churn runs five workers through a seeded series of starts,
// graceful stops, partitions, heals and unit changes, with workers that
// release revoked units late: no instant has two owners of a unit, and
// once the churn stops the group settles, every unit owned once.
func TestMember_Churn(t *testing.T) {
	for seed := range uint64(*churnSeeds) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { churn(t, seed) })
		})
	}
}

func churn(t *testing.T, seed uint64) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	units := tasks("S", 12)
	var live []*worker
	n := 0
	startOne := func() {
		n++
		w := e.start(fmt.Sprintf("w%d", n), "h1", units)
		live = append(live, w)
	}
	startOne()
	startOne()
	stopWatch := watchOwnership(t, live...)
	rewatch := func() {
		stopWatch()
		stopWatch = watchOwnership(t, live...)
	}
	defer func() { stopWatch() }()
	partitioned := map[*worker]bool{}
	for step := range 25 {
		switch k := rng.IntN(6); {
		case k == 0 && len(live) < 5:
			startOne()
			rewatch()
		case k == 1 && len(live) > 1:
			i := rng.IntN(len(live))
			w := live[i]
			delete(partitioned, w)
			live = append(live[:i], live[i+1:]...)
			w.stop()
			rewatch()
		case k == 2:
			w := live[rng.IntN(len(live))]
			e.partition(w, !partitioned[w])
			partitioned[w] = !partitioned[w]
		case k == 3:
			w := live[rng.IntN(len(live))]
			w.mu.Lock()
			w.hold = true
			w.mu.Unlock()
		case k == 4:
			for _, w := range live {
				w.releaseAll()
			}
		default:
			units = tasks("S", 8+rng.IntN(8))
			for _, w := range live {
				w.m.SetUnits(units)
			}
		}
		time.Sleep(time.Duration(1+rng.IntN(15)) * time.Second)
		_ = step
	}
	for w := range partitioned {
		e.partition(w, false)
	}
	for _, w := range live {
		w.releaseAll()
	}
	waitUntil(t, "every unit owned once, shares within one", func() bool {
		total, lo, hi := 0, len(units), 0
		for _, w := range live {
			a := w.m.Assignment()
			if a.Err != nil || len(a.Revoked) > 0 || len(a.Fenced) > 0 {
				return false
			}
			c := len(a.Owned)
			total += c
			lo, hi = min(lo, c), max(hi, c)
		}
		return total == len(units) && hi-lo <= 1
	}, func() {
		for _, w := range live {
			a := w.m.Assignment()
			t.Logf("%s: generation %d leader %s owned %v revoked %v fenced %v err %v", w.id, a.Generation, a.Leader.Worker.ID, a.Owned, a.Revoked, a.Fenced, a.Err)
		}
	})
}

// TestMember_RestartAfterCrash: a worker dies (its requests stop) and its
// replacement starts at once, as Kubernetes restarts a killed pod. The
// rebalance the newcomer begins waits for the dead worker's session to
// expire; the survivors keep owning their units all the while (their
// heartbeats, answered REBALANCE_IN_PROGRESS, keep their sessions), and the
// dead worker's units move once it is evicted.
func TestMember_RestartAfterCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		units := tasks("S", 6)
		w1 := e.start("w1", "h1", units)
		w2 := e.start("w2", "h1", units)
		w3 := e.start("w3", "h1", units)
		waitUntil(t, "two units each", func() bool { return sameInts(counts(w1, w2, w3), 2, 2, 2) })
		kept1, kept2 := w1.m.Assignment().Owned, w2.m.Assignment().Owned
		for _, w := range []*worker{w1, w2} {
			w.mu.Lock()
			clear(w.commitOK)
			w.mu.Unlock()
		}
		e.partition(w3, true) // killed: it never talks to the coordinator again
		crashed := time.Now()
		w4 := e.start("w4", "h1", units)
		stop := watchOwnership(t, w1, w2, w3, w4)
		defer stop()
		waitUntil(t, "w4 has w3's units", func() bool { return sameInts(counts(w1, w2, w4), 2, 2, 2) })
		t.Logf("the dead worker's units moved %v after it died", time.Since(crashed))
		for _, c := range []struct {
			w    *worker
			kept []Ownership
		}{{w1, kept1}, {w2, kept2}} {
			if got := c.w.m.Assignment().Owned; fmt.Sprint(got) != fmt.Sprint(c.kept) {
				t.Errorf("%s owned %v before the crash and %v after", c.w.id, c.kept, got)
			}
			c.w.mu.Lock()
			if len(c.w.commitOK) != 0 {
				t.Errorf("%s stopped units during the rebalance: %v", c.w.id, c.w.commitOK)
			}
			c.w.mu.Unlock()
		}
		w3.stop()
	})
}

// TestMember_RebalanceStats: a member counts its rebalances as Connect's
// connect-worker-rebalance-metrics do: rebalancing while it joins, one
// completed rebalance per assignment with how long it took (OnRebalance),
// the generation of the last, and when it completed.
func TestMember_RebalanceStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		var mu sync.Mutex
		took := map[string][]time.Duration{}
		record := func(id string) workerOpt {
			return func(c *Config) {
				c.OnRebalance = func(d time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					took[id] = append(took[id], d)
				}
			}
		}
		tookOf := func(id string) []time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(took[id])
		}
		units := tasks("S", 4)
		w1 := e.build("w1", "h1", units, record("w1"))
		if st := w1.m.Rebalances(); st.Rebalancing || st.Completed != 0 || st.Generation != -1 || !st.LastCompleted.IsZero() {
			t.Fatalf("before the first assignment: %+v, want none completed, generation -1", st)
		}
		w1.run()
		waitUntil(t, "w1 owns every unit", func() bool { return sameInts(counts(w1), 4) })
		first := w1.m.Rebalances()
		if first.Rebalancing || first.Completed != 1 || first.Generation < 1 || first.LastCompleted.IsZero() {
			t.Fatalf("after the first assignment: %+v, want 1 completed, not rebalancing", first)
		}

		// A second member joins: w1 rebalances (at least) once more.
		joined := time.Now()
		w2 := e.start("w2", "h1", units, record("w2"))
		waitUntil(t, "two members own two units each", func() bool { return sameInts(counts(w1, w2), 2, 2) })
		st := w1.m.Rebalances()
		if st.Rebalancing || st.Completed < 2 || st.Generation <= first.Generation || st.LastCompleted.Before(joined) {
			t.Fatalf("after w2 joined: %+v, want more completed, a later generation, not rebalancing now", st)
		}
		if a := w1.m.Assignment(); a.Generation != st.Generation {
			t.Errorf("generation %d, assignment's %d", st.Generation, a.Generation)
		}
		if d := tookOf("w1"); int64(len(d)) != st.Completed {
			t.Errorf("OnRebalance called %d times for w1's %d rebalances", len(d), st.Completed)
		}

		// Cut off from the coordinator, w2 rejoins and cannot: it says it
		// rebalances until the partition heals and it has an assignment,
		// and that rebalance took at least as long as the partition.
		before := w2.m.Rebalances().Completed
		recorded := len(tookOf("w2"))
		e.partition(w2, true)
		waitUntil(t, "w2 rebalancing", func() bool { return w2.m.Rebalances().Rebalancing })
		rebalancing := time.Now()
		time.Sleep(5 * time.Second) // the fake clock: w2 keeps trying to join
		if !w2.m.Rebalances().Rebalancing {
			t.Fatalf("w2 stopped rebalancing while it could not reach the coordinator: %+v", w2.m.Rebalances())
		}
		e.partition(w2, false)
		healed := time.Now()
		waitUntil(t, "w2 back in the group", func() bool {
			st := w2.m.Rebalances()
			return !st.Rebalancing && st.Completed > before && sameInts(counts(w1, w2), 2, 2)
		})
		// The first rebalance w2 completed after the partition (the group
		// may rebalance again once it is back).
		if d := tookOf("w2")[recorded]; d < healed.Sub(rebalancing) || d >= DefaultRebalanceTimeout+DefaultSessionTimeout {
			t.Errorf("w2's rebalance across the partition took %v; it rebalanced for %v before the partition healed", d, healed.Sub(rebalancing))
		}
		for _, id := range []string{"w1", "w2"} {
			for _, x := range tookOf(id) {
				if x < 0 {
					t.Errorf("%s: a rebalance took %v", id, x)
				}
			}
		}
	})
}
