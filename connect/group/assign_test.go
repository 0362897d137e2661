package group

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// tasks returns units "A->B/C/0".."A->B/C/n-1".
func tasks(conn string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("A->B/%s/%d", conn, i))
	}
	return out
}

func TestAssign_Table(t *testing.T) {
	u4 := tasks("S", 4)
	tests := []struct {
		name   string
		units  []string
		claims []Claim
		kind   func(string) string
		want   map[string]Plan
	}{
		{
			name:   "first member takes every unit",
			units:  u4,
			claims: []Claim{{Member: "m1", Eligible: true}},
			want:   map[string]Plan{"m1": {Owned: u4}},
		},
		{
			name:  "a joining member gets nothing until the old owner released its share",
			units: u4,
			claims: []Claim{
				{Member: "m1", Held: u4, Eligible: true},
				{Member: "m2", Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: u4[:2], Revoked: u4[2:]},
				"m2": {},
			},
		},
		{
			name:  "released units go to the member below its share",
			units: u4,
			claims: []Claim{
				{Member: "m1", Held: u4[:2], Eligible: true},
				{Member: "m2", Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: u4[:2]},
				"m2": {Owned: u4[2:]},
			},
		},
		{
			name:  "units of a departed member go to the survivors at once",
			units: tasks("S", 6),
			claims: []Claim{
				{Member: "m1", Held: tasks("S", 6)[:2], Eligible: true},
				{Member: "m3", Held: tasks("S", 6)[4:], Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: tasks("S", 6)[:3]},
				"m3": {Owned: tasks("S", 6)[3:]},
			},
		},
		{
			name:  "a balanced group keeps everything",
			units: tasks("S", 5),
			claims: []Claim{
				{Member: "m1", Held: []string{"A->B/S/0", "A->B/S/3"}, Eligible: true},
				{Member: "m2", Held: []string{"A->B/S/1", "A->B/S/2", "A->B/S/4"}, Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: []string{"A->B/S/0", "A->B/S/3"}},
				"m2": {Owned: []string{"A->B/S/1", "A->B/S/2", "A->B/S/4"}},
			},
		},
		{
			name:  "new units go to the least loaded member",
			units: append(tasks("S", 3), "A->B/S/new"),
			claims: []Claim{
				{Member: "m1", Held: tasks("S", 3)[:2], Eligible: true},
				{Member: "m2", Held: tasks("S", 3)[2:], Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: tasks("S", 3)[:2]},
				"m2": {Owned: []string{"A->B/S/2", "A->B/S/new"}},
			},
		},
		{
			name:  "deleted units are revoked",
			units: u4[:2],
			claims: []Claim{
				{Member: "m1", Held: []string{u4[0], u4[3]}, Eligible: true},
				{Member: "m2", Held: []string{u4[1], u4[2]}, Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: u4[:1], Revoked: u4[3:]},
				"m2": {Owned: u4[1:2], Revoked: u4[2:3]},
			},
		},
		{
			name:  "a unit held twice is revoked from both holders",
			units: u4[:2],
			claims: []Claim{
				{Member: "m1", Held: u4[:2], Eligible: true},
				{Member: "m2", Held: u4[1:2], Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: u4[:1], Revoked: u4[1:2]},
				"m2": {Revoked: u4[1:2]},
			},
		},
		{
			name:  "an ineligible member releases everything and gets nothing",
			units: u4,
			claims: []Claim{
				{Member: "m1", Held: u4[:1], Eligible: true},
				{Member: "m2", Held: u4[1:], Eligible: false},
			},
			want: map[string]Plan{
				"m1": {Owned: u4[:1]},
				"m2": {Revoked: u4[1:]},
			},
		},
		{
			name:   "no eligible member: nothing is owned",
			units:  u4,
			claims: []Claim{{Member: "m1", Held: u4[:2]}},
			want:   map[string]Plan{"m1": {Revoked: u4[:2]}},
		},
		{
			name:   "no units",
			claims: []Claim{{Member: "m1", Eligible: true}, {Member: "m2", Eligible: true}},
			want:   map[string]Plan{"m1": {}, "m2": {}},
		},
		{
			name:  "each kind is spread, and the totals stay within one",
			units: []string{"A->B/S/0", "A->B/S/1", "A->B/C/0", "A->B/H/0"},
			kind:  KindOf,
			claims: []Claim{
				{Member: "m1", Eligible: true},
				{Member: "m2", Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: []string{"A->B/C/0", "A->B/S/0"}},
				"m2": {Owned: []string{"A->B/H/0", "A->B/S/1"}},
			},
		},
		{
			name:  "a kind crowded on one member is spread",
			units: []string{"A->B/S/0", "A->B/S/1", "A->B/C/0", "A->B/C/1"},
			kind:  KindOf,
			claims: []Claim{
				{Member: "m1", Held: []string{"A->B/S/0", "A->B/S/1"}, Eligible: true},
				{Member: "m2", Held: []string{"A->B/C/0", "A->B/C/1"}, Eligible: true},
			},
			want: map[string]Plan{
				"m1": {Owned: []string{"A->B/S/0"}, Revoked: []string{"A->B/S/1"}},
				"m2": {Owned: []string{"A->B/C/0"}, Revoked: []string{"A->B/C/1"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Assign(tc.units, tc.claims, tc.kind)
			if !reflect.DeepEqual(norm(got), norm(tc.want)) {
				t.Errorf("Assign:\n got %v\nwant %v", norm(got), norm(tc.want))
			}
		})
	}
}

// norm makes empty and nil slices equal for comparison.
func norm(m map[string]Plan) map[string]Plan {
	out := make(map[string]Plan, len(m))
	for k, p := range m {
		if len(p.Owned) == 0 {
			p.Owned = nil
		}
		if len(p.Revoked) == 0 {
			p.Revoked = nil
		}
		out[k] = p
	}
	return out
}

// TestAssign_OneToThreeToOne grows a group from one member to three and back,
// releasing revoked units at once, as members do: every step converges in two
// generations, and no unit that did not have to move moved.
func TestAssign_OneToThreeToOne(t *testing.T) {
	units := tasks("S", 9)
	held := map[string][]string{"m1": nil}
	step := func(want map[string]int) {
		t.Helper()
		moves := 0
		for gen := 1; ; gen++ {
			if gen > 3 {
				t.Fatalf("no stable assignment after 3 generations: %v", held)
			}
			plans := Assign(units, claimsOf(held, nil), nil)
			revoked := 0
			for m, p := range plans {
				revoked += len(p.Revoked)
				moves += len(p.Revoked)
				held[m] = p.Owned // revoked units are released at once
			}
			if revoked == 0 {
				break
			}
		}
		for m, n := range want {
			if len(held[m]) != n {
				t.Fatalf("member %s owns %d units, want %d: %v", m, len(held[m]), n, held)
			}
		}
		t.Logf("%v: %d units moved", want, moves)
	}
	step(map[string]int{"m1": 9})
	held["m2"], held["m3"] = nil, nil
	step(map[string]int{"m1": 3, "m2": 3, "m3": 3})
	before := maps.Clone(held)
	delete(held, "m2") // m2 leaves: its units go to m1 and m3 at once
	plans := Assign(units, claimsOf(held, nil), nil)
	for m, p := range plans {
		if len(p.Revoked) > 0 {
			t.Fatalf("after m2 left, %s had %v revoked; the survivors keep what they hold", m, p.Revoked)
		}
		if !isSubset(before[m], p.Owned) {
			t.Fatalf("after m2 left, %s owns %v, not a superset of %v", m, p.Owned, before[m])
		}
		held[m] = p.Owned
	}
	step(map[string]int{"m1": 5, "m3": 4})
	delete(held, "m3")
	step(map[string]int{"m1": 9})
}

func claimsOf(held map[string][]string, ineligible map[string]bool) []Claim {
	var cs []Claim
	for m, h := range held {
		cs = append(cs, Claim{Member: m, Held: slices.Clone(h), Eligible: !ineligible[m]})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Member < cs[j].Member })
	return cs
}

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func TestKindOf(t *testing.T) {
	for unit, want := range map[string]string{
		"A->B/MirrorSourceConnector/0": "A->B/MirrorSourceConnector",
		"A->B/MirrorSourceConnector":   "A->B",
		"plain":                        "",
	} {
		if got := KindOf(unit); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", unit, got, want)
		}
	}
}

// unitGen draws a unit set of a few kinds, shaped like mm2go's: connectors
// "F/C" and tasks "F/C/i".
func unitGen(t *rapid.T) []string {
	var units []string
	flows := rapid.IntRange(1, 3).Draw(t, "flows")
	for f := range flows {
		for _, c := range []string{"S", "C", "H"} {
			conn := fmt.Sprintf("f%d/%s", f, c)
			units = append(units, conn)
			for i := range rapid.IntRange(0, 7).Draw(t, "tasks "+conn) {
				units = append(units, fmt.Sprintf("%s/%d", conn, i))
			}
		}
	}
	return units
}

// simMember is a member in the simulation: the units it runs, and among
// them those it was told to stop and has not released yet.
type simMember struct {
	eligible bool
	held     map[string]bool
	stopping map[string]bool
}

// TestAssign_NeverTwoOwners simulates a group through joins, crashes, unit
// changes and rebalances, with members that release revoked units at once
// or only several generations later: at no point does a unit run on two
// members, and every plan keeps the rules of Assign.
func TestAssign_NeverTwoOwners(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		units := unitGen(t)
		members := map[string]*simMember{}
		next := 0
		ids := func() []string { return slices.Sorted(maps.Keys(members)) }
		check := func() {
			runs := map[string]string{}
			for id, m := range members {
				for u := range m.held {
					if other, ok := runs[u]; ok {
						t.Fatalf("unit %s runs on %s and %s", u, other, id)
					}
					runs[u] = id
				}
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"join": func(t *rapid.T) {
				next++
				members[fmt.Sprintf("m%02d", next)] = &simMember{
					eligible: rapid.IntRange(0, 9).Draw(t, "eligible") > 0,
					held:     map[string]bool{}, stopping: map[string]bool{},
				}
			},
			"crash": func(t *rapid.T) {
				if len(members) == 0 {
					t.Skip("no member")
				}
				// A member that left or was evicted runs nothing (it
				// is fenced: see Member.Owns).
				delete(members, rapid.SampledFrom(ids()).Draw(t, "crashed"))
			},
			"units": func(t *rapid.T) {
				units = unitGen(t)
			},
			"release": func(t *rapid.T) {
				if len(members) == 0 {
					t.Skip("no member")
				}
				m := members[rapid.SampledFrom(ids()).Draw(t, "releasing")]
				for u := range m.stopping {
					delete(m.held, u)
				}
				clear(m.stopping)
			},
			"rebalance": func(t *rapid.T) {
				var claims []Claim
				for _, id := range ids() {
					m := members[id]
					claims = append(claims, Claim{Member: id, Held: slices.Sorted(maps.Keys(m.held)), Eligible: m.eligible})
				}
				plans := Assign(units, claims, KindOf)
				checkPlans(t, units, claims, plans)
				for id, p := range plans {
					m := members[id]
					for _, u := range p.Owned {
						m.held[u] = true
						delete(m.stopping, u)
					}
					slow := rapid.Bool().Draw(t, "slow release "+id)
					for _, u := range p.Revoked {
						if slow {
							m.stopping[u] = true
						} else {
							delete(m.held, u)
						}
					}
				}
			},
			"": func(t *rapid.T) { check() },
		})
	})
}

// checkPlans checks the rules every plan keeps, whatever the claims.
func checkPlans(t *rapid.T, units []string, claims []Claim, plans map[string]Plan) {
	wanted := map[string]bool{}
	for _, u := range units {
		wanted[u] = true
	}
	holders := map[string]int{}
	for _, c := range claims {
		for _, u := range c.Held {
			holders[u]++
		}
	}
	if len(plans) != len(claims) {
		t.Fatalf("%d plans for %d members", len(plans), len(claims))
	}
	owner := map[string]string{}
	for _, c := range claims {
		p, ok := plans[c.Member]
		if !ok {
			t.Fatalf("no plan for %s", c.Member)
		}
		held := map[string]bool{}
		for _, u := range c.Held {
			held[u] = true
		}
		if !c.Eligible && len(p.Owned) > 0 {
			t.Fatalf("ineligible %s owns %v", c.Member, p.Owned)
		}
		for _, u := range p.Owned {
			if !wanted[u] {
				t.Fatalf("%s owns %s, which is not a unit", c.Member, u)
			}
			if o, ok := owner[u]; ok {
				t.Fatalf("%s owned by %s and %s in one plan", u, o, c.Member)
			}
			owner[u] = c.Member
			if !held[u] && holders[u] > 0 {
				t.Fatalf("%s given to %s while another member holds it", u, c.Member)
			}
		}
		var keptOrRevoked []string
		keptOrRevoked = append(keptOrRevoked, p.Revoked...)
		for _, u := range p.Owned {
			if held[u] {
				keptOrRevoked = append(keptOrRevoked, u)
			}
		}
		sort.Strings(keptOrRevoked)
		if want := slices.Sorted(maps.Keys(held)); !slices.Equal(keptOrRevoked, want) {
			t.Fatalf("%s held %v; kept and revoked %v", c.Member, want, keptOrRevoked)
		}
	}
}

// TestAssign_Converges: from any claims (overlapping, stale, unbalanced),
// assigning again with revoked units released reaches, within three
// generations, a plan that revokes nothing, owns every unit, balances each
// kind and the totals within one, and stays as it is.
func TestAssign_Converges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		units := unitGen(t)
		n := rapid.IntRange(1, 6).Draw(t, "members")
		held := map[string][]string{}
		ineligible := map[string]bool{}
		for i := range n {
			id := fmt.Sprintf("m%d", i)
			held[id] = rapid.SliceOfDistinct(rapid.SampledFrom(append(units, "gone/unit")), rapid.ID[string]).Draw(t, "held "+id)
			ineligible[id] = i > 0 && rapid.IntRange(0, 4).Draw(t, "ineligible "+id) == 0
		}
		var plans map[string]Plan
		for gen := 1; ; gen++ {
			plans = Assign(units, claimsOf(held, ineligible), KindOf)
			revoked := 0
			for m, p := range plans {
				revoked += len(p.Revoked)
				held[m] = p.Owned
			}
			if revoked == 0 {
				break
			}
			if gen == 3 {
				t.Fatalf("still revoking after 3 generations: %v", plans)
			}
		}
		checkBalanced(t, units, plans, ineligible)
		again := Assign(units, claimsOf(held, ineligible), KindOf)
		if !reflect.DeepEqual(norm(again), norm(plans)) {
			t.Fatalf("a stable plan changed:\n%v\n%v", plans, again)
		}
	})
}

func checkBalanced(t *rapid.T, units []string, plans map[string]Plan, ineligible map[string]bool) {
	count := map[string]map[string]int{} // kind -> member -> units
	totals := map[string]int{}
	owned := 0
	for m, p := range plans {
		if ineligible[m] {
			continue
		}
		totals[m] = len(p.Owned)
		owned += len(p.Owned)
		for _, u := range p.Owned {
			k := KindOf(u)
			if count[k] == nil {
				count[k] = map[string]int{}
			}
			count[k][m]++
		}
	}
	if len(totals) == 0 {
		return
	}
	if owned != len(units) {
		t.Fatalf("%d of %d units owned: %v", owned, len(units), plans)
	}
	spread := func(per map[string]int) int {
		lo, hi := len(units)+1, -1
		for m := range totals {
			lo, hi = min(lo, per[m]), max(hi, per[m])
		}
		return hi - lo
	}
	if s := spread(totals); s > 1 {
		t.Fatalf("totals differ by %d: %v", s, totals)
	}
	for k, per := range count {
		if s := spread(per); s > 1 {
			t.Fatalf("kind %s: counts differ by %d: %v", k, s, per)
		}
	}
}

// TestAssign_Sticky: with one kind of unit, in a stable group a member
// leaving takes nothing from the others, and a member joining takes from
// each only what exceeds its new share: the units that move are exactly
// the ones the newcomer ends with. (With several kinds, keeping every
// kind and the totals within one can force a move; see
// TestAssign_FewestMoves.)
func TestAssign_Sticky(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		units := tasks("S", rapid.IntRange(0, 40).Draw(t, "units"))
		n := rapid.IntRange(1, 6).Draw(t, "members")
		held := map[string][]string{}
		for i := range n {
			held[fmt.Sprintf("m%d", i)] = nil
		}
		converge := func() (moved int) {
			for gen := 1; gen <= 3; gen++ {
				revoked := 0
				for m, p := range Assign(units, claimsOf(held, nil), nil) {
					revoked += len(p.Revoked)
					held[m] = p.Owned
				}
				moved += revoked
				if revoked == 0 {
					return moved
				}
			}
			t.Fatalf("no stable plan after 3 generations")
			return 0
		}
		converge()
		if n > 1 {
			leaver := rapid.SampledFrom(slices.Sorted(maps.Keys(held))).Draw(t, "leaver")
			before := maps.Clone(held)
			delete(held, leaver)
			for m, p := range Assign(units, claimsOf(held, nil), nil) {
				if len(p.Revoked) > 0 || !isSubset(before[m], p.Owned) {
					t.Fatalf("after %s left, %s lost %v", leaver, m, p.Revoked)
				}
			}
			converge()
		}
		held["new"] = nil
		moved := converge()
		if moved != len(held["new"]) {
			t.Fatalf("a joining member got %d units, but %d moved", len(held["new"]), moved)
		}
	})
}

// TestAssign_FewestMoves: among all plans that keep every kind and the
// totals within one, Assign revokes the fewest units. The minimum is found
// by trying every choice of rounded-up shares on small groups.
func TestAssign_FewestMoves(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 3).Draw(t, "members")
		var units []string
		for k := range rapid.IntRange(1, 4).Draw(t, "kinds") {
			for i := range rapid.IntRange(1, 5).Draw(t, "units") {
				units = append(units, fmt.Sprintf("k%d/%d", k, i))
			}
		}
		// Disjoint holdings, as in a group whose members rejoin.
		held := map[string][]string{}
		for i := range n {
			held[fmt.Sprintf("m%d", i)] = nil
		}
		for _, u := range units {
			if o := rapid.IntRange(-1, n-1).Draw(t, "holder of "+u); o >= 0 {
				id := fmt.Sprintf("m%d", o)
				held[id] = append(held[id], u)
			}
		}
		revoked := 0
		for _, p := range Assign(units, claimsOf(held, nil), KindOf) {
			revoked += len(p.Revoked)
		}
		if want := fewestRevocations(units, held); revoked != want {
			t.Fatalf("Assign revoked %d units; a balanced plan revoking %d exists", revoked, want)
		}
	})
}

// fewestRevocations tries every choice of which members get the rounded-up
// share of each kind, keeping the totals within one, and returns the fewest
// units any of them revokes.
func fewestRevocations(units []string, held map[string][]string) int {
	members := slices.Sorted(maps.Keys(held))
	n := len(members)
	count := map[string]int{}
	for _, u := range units {
		count[KindOf(u)]++
	}
	kinds := slices.Sorted(maps.Keys(count))
	hold := make([]map[string]int, n)
	for i, m := range members {
		hold[i] = map[string]int{}
		for _, u := range held[m] {
			hold[i][KindOf(u)]++
		}
	}
	best := len(units) + 1
	quota := make([]map[string]int, n)
	for i := range quota {
		quota[i] = map[string]int{}
	}
	var try func(k int)
	try = func(k int) {
		if k == len(kinds) {
			lo, hi, rev := len(units)+1, -1, 0
			for i := range n {
				total := 0
				for _, kd := range kinds {
					total += quota[i][kd]
					rev += max(0, hold[i][kd]-quota[i][kd])
				}
				lo, hi = min(lo, total), max(hi, total)
			}
			if hi-lo <= 1 {
				best = min(best, rev)
			}
			return
		}
		kd := kinds[k]
		base, extras := count[kd]/n, count[kd]%n
		for mask := range 1 << n {
			if bitsSet(mask) != extras {
				continue
			}
			for i := range n {
				quota[i][kd] = base + (mask >> i & 1)
			}
			try(k + 1)
		}
	}
	try(0)
	return best
}

func bitsSet(x int) int {
	c := 0
	for ; x > 0; x &= x - 1 {
		c++
	}
	return c
}

func TestAssign_ManyUnits(t *testing.T) {
	var units []string
	for f := range 20 {
		units = append(units, fmt.Sprintf("f%d/S", f))
		for i := range 50 {
			units = append(units, fmt.Sprintf("f%d/S/%d", f, i))
		}
	}
	held := map[string][]string{}
	for i := range 7 {
		held[fmt.Sprintf("m%d", i)] = nil
	}
	plans := Assign(units, claimsOf(held, nil), KindOf)
	counts := map[string]int{}
	for m, p := range plans {
		counts[m] = len(p.Owned)
	}
	lo, hi := len(units), 0
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	if hi-lo > 1 || lo*7 > len(units) {
		t.Fatalf("1020 units over 7 members: %v", counts)
	}
	if s := strings.Join(plans["m0"].Revoked, ","); s != "" {
		t.Fatalf("revoked %s from a member that held nothing", s)
	}
}

// BenchmarkAssign: 1,000 units of 100 connectors (10 tasks each, and the
// connectors themselves) over 7 members: every kind has rounded-up shares.
func BenchmarkAssign(b *testing.B) {
	var units []string
	for f := range 25 {
		for _, c := range []string{"S", "C", "H", "X"} {
			units = append(units, fmt.Sprintf("f%d/%s", f, c))
			for i := range 9 {
				units = append(units, fmt.Sprintf("f%d/%s/%d", f, c, i))
			}
		}
	}
	held := map[string][]string{}
	for i := range 7 {
		held[fmt.Sprintf("m%d", i)] = nil
	}
	for m, p := range Assign(units, claimsOf(held, nil), KindOf) {
		held[m] = p.Owned
	}
	claims := claimsOf(held, nil)
	b.ReportAllocs()
	for b.Loop() {
		Assign(units, claims, KindOf)
	}
}
