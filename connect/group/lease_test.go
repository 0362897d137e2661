package group

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// heartbeats records when each member's heartbeats reached the coordinator
// (in the bubble no time passes between a request's arrival and its answer)
// and can signal the next heartbeat of one member.
type heartbeats struct {
	mu     sync.Mutex
	at     map[string][]time.Time
	armed  string // member id whose next heartbeat is signalled on next
	next   chan time.Time
	dropID string // member id whose heartbeats are dropped
}

func (e *env) watchHeartbeats() *heartbeats {
	h := &heartbeats{at: map[string][]time.Time{}, next: make(chan time.Time, 1)}
	e.c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.c.KeepControl()
		id := req.(*kmsg.HeartbeatRequest).MemberID
		h.mu.Lock()
		defer h.mu.Unlock()
		if id == h.dropID {
			return nil, errors.New("dropped"), true
		}
		h.at[id] = append(h.at[id], time.Now())
		if id == h.armed {
			h.armed = ""
			h.next <- time.Now()
		}
		return nil, nil, false
	})
	return h
}

// arm makes the next heartbeat of member id arrive on the returned channel.
func (h *heartbeats) arm(id string) <-chan time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = id
	return h.next
}

func (h *heartbeats) drop(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropID = id
}

// firstAfter is the first heartbeat of member id that arrived at or after t.
func (h *heartbeats) firstAfter(id string, t time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, at := range h.at[id] {
		if !at.Before(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// ownsAll: the worker runs exactly these units, owns each, and is a member.
func ownsAll(w *worker, units []string) bool {
	a := w.m.Assignment()
	if a.Err != nil || !slices.Equal(w.owned(), units) {
		return false
	}
	for _, o := range a.Owned {
		if _, ok := w.m.Owns(o.Unit, o.Generation); !ok {
			return false
		}
	}
	return true
}

// checkStartedAfterHeartbeat: every unit w runs was started with Owns true,
// and not before the first heartbeat w sent after its assignment arrived.
func checkStartedAfterHeartbeat(t *testing.T, w *worker, h *heartbeats, assigned time.Time) {
	t.Helper()
	hb, ok := h.firstAfter(w.m.Assignment().MemberID, assigned)
	if !ok {
		t.Fatalf("%s sent no heartbeat after its assignment at %v, yet runs %v", w.id, assigned.Format(time.TimeOnly), w.owned())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unowned) > 0 {
		t.Errorf("%s started %v while Owns was false", w.id, w.unowned)
	}
	for _, o := range w.m.Assignment().Owned {
		at, ok := w.startedAt[o]
		if !ok {
			t.Errorf("%s owns %v but never started it", w.id, o)
			continue
		}
		if at.Before(hb) {
			t.Errorf("%s started %v at %v, before its first heartbeat after the assignment (%v)", w.id, o, at.Format(time.TimeOnly), hb.Format(time.TimeOnly))
		}
	}
}

// TestMember_JoinOutlastsLease: a worker is killed right after a heartbeat
// and restarted at once (a crash loop under Kubernetes). The new worker's
// JoinGroup waits at the coordinator until the dead worker's session
// expires, the full session timeout: longer than the lease the JoinGroup
// gives (session timeout less the fence margin, counted from its send
// time), so its assignment arrives with that lease over. Nothing of that
// generation ran: it is no loss. The worker reports no LostError and does
// not rejoin; its units start once its first heartbeat after the
// assignment was answered, with Owns true, and keep running.
func TestMember_JoinOutlastsLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		h := e.watchHeartbeats()
		units := tasks("S", 4)
		dead := e.start("w0", "h1", units)
		waitUntil(t, "w0 owns every unit", func() bool { return ownsAll(dead, units) })

		// Killed the instant its session was restarted: it expires a
		// full session timeout later.
		killed := <-h.arm(dead.m.Assignment().MemberID)
		e.partition(dead, true)
		w := e.start("w1", "h1", units)
		stop := watchOwnership(t, dead, w)
		defer stop()

		waitUntil(t, "w1 owns every unit", func() bool { return ownsAll(w, units) }, func() {
			a := w.m.Assignment()
			t.Logf("w1: generation %d owned %v err %v rebalances %+v", a.Generation, a.Owned, a.Err, w.m.Rebalances())
		})
		st := w.m.Rebalances()
		if wait, lease := st.LastCompleted.Sub(killed), DefaultSessionTimeout-DefaultFenceMargin; wait <= lease {
			t.Fatalf("w1's assignment arrived %v after its JoinGroup, within the lease %v: the test did not make the join outlast it", wait, lease)
		}
		w.mu.Lock()
		var started time.Time
		for _, at := range w.startedAt {
			if at.After(started) {
				started = at
			}
		}
		w.mu.Unlock()
		t.Logf("w1's JoinGroup waited %v; its units started %v after the assignment", st.LastCompleted.Sub(killed), started.Sub(st.LastCompleted))
		checkStartedAfterHeartbeat(t, w, h, st.LastCompleted)

		// Heartbeats keep it: no loss, no second rebalance, nothing
		// stopped or started again.
		time.Sleep(30 * time.Second)
		if !ownsAll(w, units) {
			t.Fatalf("30s later w1 owns %v, err %v", w.owned(), w.m.Assignment().Err)
		}
		if got := w.m.Rebalances(); got.Completed != 1 || got.Generation != st.Generation {
			t.Errorf("w1 rebalanced again: %+v after %+v", got, st)
		}
		w.mu.Lock()
		if len(w.lostSeen) > 0 {
			t.Errorf("w1 reported a LostError at %v", w.lostSeen)
		}
		if len(w.commitOK) > 0 {
			t.Errorf("w1 stopped units: %v", w.commitOK)
		}
		for u, gens := range w.generation {
			if len(gens) != 1 {
				t.Errorf("w1 started %s under generations %v", u, gens)
			}
		}
		w.mu.Unlock()
		stop()
		dead.stop()
	})
}

// TestMember_LeaseEndsDuringJoin: a worker that runs its units under a
// lease rejoins, and its JoinGroup is held at the coordinator while its
// heartbeats are lost. Its lease runs out during the join: that is a loss,
// reported at the lease end, and its units stop without committing. The
// assignment that arrives after the lease ended is not a second loss: the
// units start again under the new generation once a heartbeat is answered.
func TestMember_LeaseEndsDuringJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		h := e.watchHeartbeats()
		units := tasks("S", 2)
		w := e.start("w1", "h1", units)
		waitUntil(t, "w1 owns every unit", func() bool { return ownsAll(w, units) })
		before := w.m.Assignment().Owned
		first := w.m.Rebalances()
		id := w.m.Assignment().MemberID

		// Its next JoinGroup is held 9s, less than the session timeout
		// (it stays a member) but more than the lease.
		const hold = 9 * time.Second
		var once sync.Once
		e.c.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
			if req.(*kmsg.JoinGroupRequest).MemberID != id {
				e.c.KeepControl()
				return nil, nil, false
			}
			once.Do(func() {
				e.c.SleepControl(func() {
					time.Sleep(hold)
					h.drop("")
				})
			})
			return nil, nil, false
		})
		acked := <-h.arm(id)
		h.drop(id)
		more := tasks("S", 3)
		w.m.SetUnits(more) // the leader rejoins at once

		var le *LostError
		waitUntil(t, "w1 reports its lease ended", func() bool { return errors.As(w.m.Assignment().Err, &le) })
		if lease := DefaultSessionTimeout - DefaultFenceMargin; le.At.Sub(acked) > lease {
			t.Errorf("lease ended %v after the last acknowledged heartbeat, later than the lease %v", le.At.Sub(acked), lease)
		}
		for _, o := range before {
			if _, ok := w.m.Owns(o.Unit, o.Generation); ok {
				t.Errorf("w1 still owns %v after its lease ended", o)
			}
		}

		waitUntil(t, "w1 owns the three units", func() bool { return ownsAll(w, more) }, func() {
			a := w.m.Assignment()
			t.Logf("w1: generation %d owned %v fenced %v err %v rebalances %+v", a.Generation, a.Owned, a.Fenced, a.Err, w.m.Rebalances())
		})
		st := w.m.Rebalances()
		if st.Completed != first.Completed+1 {
			t.Errorf("w1 completed %d rebalances after the held join, want 1", st.Completed-first.Completed)
		}
		if !st.LastCompleted.After(le.At) {
			t.Fatalf("the assignment arrived at %v, not after the lease ended at %v: the test did not hold the join long enough", st.LastCompleted.Format(time.TimeOnly), le.At.Format(time.TimeOnly))
		}
		w.mu.Lock()
		for _, o := range before {
			if ok, stopped := w.commitOK[o]; !stopped || ok {
				t.Errorf("%v: stopped %v, final commit allowed %v; want stopped without a commit", o, stopped, ok)
			}
			if gens := w.generation[o.Unit]; len(gens) != 2 || gens[1] <= gens[0] {
				t.Errorf("%s started under generations %v, want its first and a later one", o.Unit, gens)
			}
		}
		for _, at := range w.lostSeen {
			if at.After(st.LastCompleted) {
				t.Errorf("w1 reported a LostError at %v, after the late assignment at %v", at.Format(time.TimeOnly), st.LastCompleted.Format(time.TimeOnly))
			}
		}
		w.mu.Unlock()
		checkStartedAfterHeartbeat(t, w, h, st.LastCompleted)
	})
}
