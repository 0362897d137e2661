package group

// roundUps decides which members get the rounded-up share of each kind.
//
// A kind of u units over n members gives each member u/n of them, and
// u%n members one more: extras[k] is that u%n (less than n). want[i][k]
// says member i holds more than u/n units of kind k, so giving it the
// rounded-up share saves moving one unit. roundUps returns up[i][k], true
// when member i gets the rounded-up share of kind k, such that
//
//   - every kind's rounded-up shares go to extras[k] distinct members;
//   - every member gets R/n or R/n+1 of them, R being their sum, so the
//     members' totals differ by at most one;
//   - as many as possible go to members that want them: no other choice
//     moves fewer units.
//
// It is a minimum-cost flow: source -> kind (capacity extras[k]) -> member
// (capacity 1, cost -1 if wanted) -> sink (capacity R/n, plus R%n more
// shared by all members through one node). A flow of R always exists:
// dealing the rounded-up shares kind after kind round the members, each
// kind's go to distinct members (extras[k] < n) and each member gets R/n
// or R/n+1.
func roundUps(extras []int, want [][]bool) [][]bool {
	n, kinds := len(want), len(extras)
	total := 0
	for _, e := range extras {
		total += e
	}
	up := make([][]bool, n)
	for i := range up {
		up[i] = make([]bool, kinds)
	}
	if total == 0 {
		return up
	}
	// Nodes: source, kinds, members, the shared "one more" node, sink.
	src, kind0, member0 := 0, 1, 1+kinds
	more, sink := member0+n, member0+n+1
	g := &flowGraph{adj: make([][]flowEdge, sink+1)}
	for k, e := range extras {
		if e > 0 {
			g.add(src, kind0+k, e, 0)
		}
	}
	kindEdge := make([][]int, n) // index of the kind -> member edge in adj[kind]
	for i := range n {
		kindEdge[i] = make([]int, kinds)
		for k, e := range extras {
			kindEdge[i][k] = -1
			if e == 0 {
				continue
			}
			cost := 0
			if want[i][k] {
				cost = -1
			}
			kindEdge[i][k] = g.add(kind0+k, member0+i, 1, cost)
		}
		if total/n > 0 {
			g.add(member0+i, sink, total/n, 0)
		}
		if total%n > 0 {
			g.add(member0+i, more, 1, 0)
		}
	}
	if total%n > 0 {
		g.add(more, sink, total%n, 0)
	}
	g.minCostFlow(src, sink)
	for i := range n {
		for k := range kinds {
			if e := kindEdge[i][k]; e >= 0 && g.adj[kind0+k][e].cap == 0 {
				up[i][k] = true
			}
		}
	}
	return up
}

type flowEdge struct{ to, cap, cost, rev int }

type flowGraph struct{ adj [][]flowEdge }

// add adds an edge and its residual, and returns the edge's index in
// adj[from].
func (g *flowGraph) add(from, to, cap, cost int) int {
	g.adj[from] = append(g.adj[from], flowEdge{to: to, cap: cap, cost: cost, rev: len(g.adj[to])})
	g.adj[to] = append(g.adj[to], flowEdge{to: from, cap: 0, cost: -cost, rev: len(g.adj[from]) - 1})
	return len(g.adj[from]) - 1
}

// minCostFlow pushes as much flow as possible from src to sink along the
// cheapest paths (successive shortest paths, Bellman-Ford with a queue:
// costs are negative, and the graph has no negative cycle).
func (g *flowGraph) minCostFlow(src, sink int) {
	nodes := len(g.adj)
	dist := make([]int, nodes)
	inQueue := make([]bool, nodes)
	prevNode := make([]int, nodes)
	prevEdge := make([]int, nodes)
	const inf = int(^uint(0) >> 1)
	for {
		for v := range dist {
			dist[v], prevNode[v] = inf, -1
		}
		dist[src] = 0
		queue := []int{src}
		inQueue[src] = true
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			inQueue[u] = false
			for ei, e := range g.adj[u] {
				if e.cap > 0 && dist[u]+e.cost < dist[e.to] {
					dist[e.to] = dist[u] + e.cost
					prevNode[e.to], prevEdge[e.to] = u, ei
					if !inQueue[e.to] {
						inQueue[e.to] = true
						queue = append(queue, e.to)
					}
				}
			}
		}
		if dist[sink] == inf {
			return
		}
		push := inf
		for v := sink; v != src; v = prevNode[v] {
			push = min(push, g.adj[prevNode[v]][prevEdge[v]].cap)
		}
		for v := sink; v != src; v = prevNode[v] {
			e := &g.adj[prevNode[v]][prevEdge[v]]
			e.cap -= push
			g.adj[v][e.rev].cap += push
		}
	}
}
