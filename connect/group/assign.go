package group

import (
	"slices"
	"sort"
	"strings"
)

// Claim is what one member told the leader when it joined a rebalance.
type Claim struct {
	// Member is the member id the coordinator gave it.
	Member string
	// Held are the units it runs, or has not finished stopping, when it
	// sent its JoinGroup request.
	Held []string
	// Eligible members take units: their configuration is the group's. An
	// ineligible member is only asked to release what it holds.
	Eligible bool
}

// Plan is one member's part of an assignment.
type Plan struct {
	// Owned are the units the member runs in the new generation, sorted:
	// the ones it keeps and the ones it is given.
	Owned []string
	// Revoked are units of its Held that it must stop, commit and release,
	// sorted. Nobody else is given them in this generation.
	Revoked []string
}

// KindOf returns the kind of a unit for balancing: the part before its
// last "/". Units "A->B/MirrorSourceConnector/0" and ".../1" are of kind
// "A->B/MirrorSourceConnector", so each connector's tasks are spread over
// the members; connector units "A->B/MirrorSourceConnector" are of kind
// "A->B", so each flow's connectors are spread too. A unit without "/" is
// of kind "".
func KindOf(unit string) string {
	if i := strings.LastIndexByte(unit, '/'); i >= 0 {
		return unit[:i]
	}
	return ""
}

// Assign computes the next generation's assignment of units to the members
// of claims, keyed by member id. It is what the leader runs; it is a pure
// function of its arguments, so any member computes the same plan from the
// same claims.
//
// The rules, in order:
//
//  1. A unit is given to a member only if no member holds it. A unit held
//     by a member that must not keep it is revoked (assigned to nobody) in
//     this generation; it is given to its new owner in a later one, once
//     the old owner released it (stopped, committed, and rejoined without
//     it) or left the group. So no unit is ever run by two members, in the
//     same or in consecutive generations.
//  2. A unit held by exactly one eligible member stays with it unless that
//     member holds more than its fair share (sticky).
//  3. Units no longer in units, units held by several members (a fault:
//     each of them is told to stop it) and units held by ineligible
//     members are revoked.
//  4. Balance: for every kind (kind(unit); nil puts all units in one
//     kind), each eligible member's share is the kind's count divided by
//     the number of eligible members, rounded down or up, and the
//     members' totals differ by at most one. Free units (new ones, ones
//     of departed members, released ones) go to the members furthest
//     below their share, then to the least loaded.
//
// Assigning again after every member released its revoked units reaches a
// plan with nothing revoked, in which every unit is owned and the shares
// hold; assigning the same claims again then changes nothing.
func Assign(units []string, claims []Claim, kind func(unit string) string) map[string]Plan {
	if kind == nil {
		kind = func(string) string { return "" }
	}
	claims = slices.Clone(claims)
	sort.Slice(claims, func(i, j int) bool { return claims[i].Member < claims[j].Member })

	wanted := make(map[string]bool, len(units))
	byKind := make(map[string][]string)
	for _, u := range units {
		if !wanted[u] {
			wanted[u] = true
			byKind[kind(u)] = append(byKind[kind(u)], u)
		}
	}
	holders := make(map[string]int, len(units))
	held := make([]map[string]bool, len(claims))
	for i, c := range claims {
		held[i] = make(map[string]bool, len(c.Held))
		for _, u := range c.Held {
			if !held[i][u] {
				held[i][u] = true
				holders[u]++
			}
		}
	}

	// The members that take units, and what each may keep: units still
	// wanted that nobody else holds, by kind.
	type load struct {
		claim int
		cand  map[string][]string // kind -> candidate units to keep, sorted
		quota map[string]int      // kind -> share
		count map[string]int      // kind -> units owned in the plan
		total int                 // units owned in the plan
		owned []string
	}
	var loads []*load
	for i, c := range claims {
		if !c.Eligible {
			continue
		}
		l := &load{claim: i, cand: make(map[string][]string), quota: make(map[string]int), count: make(map[string]int)}
		for u := range held[i] {
			if wanted[u] && holders[u] == 1 {
				l.cand[kind(u)] = append(l.cand[kind(u)], u)
			}
		}
		for _, us := range l.cand {
			sort.Strings(us)
		}
		loads = append(loads, l)
	}

	if n := len(loads); n > 0 {
		kinds := make([]string, 0, len(byKind))
		for k := range byKind {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		extras := make([]int, len(kinds))
		want := make([][]bool, n)
		for i, l := range loads {
			want[i] = make([]bool, len(kinds))
			for j, k := range kinds {
				base := len(byKind[k]) / n
				l.quota[k] = base
				extras[j] = len(byKind[k]) % n
				want[i][j] = len(l.cand[k]) > base
			}
		}
		for i, up := range roundUps(extras, want) {
			for j, k := range kinds {
				if up[j] {
					loads[i].quota[k]++
				}
			}
		}
		// Keep what fits in the share.
		for _, l := range loads {
			for k, us := range l.cand {
				keep := us[:min(len(us), l.quota[k])]
				l.owned = append(l.owned, keep...)
				l.count[k] += len(keep)
				l.total += len(keep)
			}
		}
		// Give the free units.
		for _, k := range kinds {
			for _, u := range byKind[k] {
				if holders[u] > 0 {
					continue
				}
				var best *load
				for _, l := range loads {
					room := l.quota[k] - l.count[k]
					if room <= 0 {
						continue
					}
					if best == nil {
						best = l
						continue
					}
					if br := best.quota[k] - best.count[k]; room != br {
						if room > br {
							best = l
						}
						continue
					}
					if l.total < best.total {
						best = l
					}
				}
				// best is never nil: the rooms of a kind add up to its
				// units that nobody keeps, so they cover its free units.
				best.owned = append(best.owned, u)
				best.count[k]++
				best.total++
			}
		}
	}

	plans := make(map[string]Plan, len(claims))
	owned := make([][]string, len(claims))
	for _, l := range loads {
		owned[l.claim] = l.owned
	}
	for i, c := range claims {
		p := Plan{Owned: owned[i]}
		keep := make(map[string]bool, len(p.Owned))
		for _, u := range p.Owned {
			keep[u] = true
		}
		for u := range held[i] {
			if !keep[u] {
				p.Revoked = append(p.Revoked, u)
			}
		}
		sort.Strings(p.Owned)
		sort.Strings(p.Revoked)
		plans[c.Member] = p
	}
	return plans
}
