package connectors

import (
	"bytes"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProvenanceHeader is the record header in which mm2go carries, with the
// identity replication policy, the clusters a record has been copied from,
// oldest first, comma-separated ("A" after A->B, "A,B" after A->B->C). Topic
// names cannot show provenance under the identity policy, so this header is
// what keeps active/active A <-> B from looping: a record is never copied to
// a cluster that is already on its path.
const ProvenanceHeader = "mm2go-provenance"

// provenance stamps records copied from source with their hop path and
// tells which records must not go to target. It allocates nothing per
// record in the steady state: headers of one poll share an arena, and the
// path values are cached by the path they extend.
type provenance struct {
	source, target []byte
	own            []byte             // path of records produced on the source: "source"
	paths          map[string][]byte  // incoming path -> path + "," + source
	arena          []kgo.RecordHeader // backing store for stamped headers
}

func newProvenance(source, target string) *provenance {
	return &provenance{source: []byte(source), target: []byte(target), own: []byte(source), paths: make(map[string][]byte)}
}

// stamp adds or extends r's provenance header. It returns false when r has
// already been on target (it must not be copied there).
func (p *provenance) stamp(r *kgo.Record) bool {
	idx := -1
	for i := range r.Headers {
		if r.Headers[i].Key == ProvenanceHeader {
			idx = i
			break
		}
	}
	if idx < 0 {
		r.Headers = p.withHeader(r.Headers, -1, p.own)
		return true
	}
	path := r.Headers[idx].Value
	if onPath(path, p.target) {
		return false
	}
	ext, ok := p.paths[string(path)] // no allocation: map lookup by converted []byte
	if !ok {
		ext = append(append(append([]byte(nil), path...), ','), p.source...)
		if len(p.paths) < 1024 { // bounded: paths are cluster chains, few in practice
			p.paths[string(path)] = ext
		}
	}
	r.Headers = p.withHeader(r.Headers, idx, ext)
	return true
}

// withHeader returns hs without hs[skip] (skip < 0: none) plus a provenance
// header with value v, in the arena: one allocation per few thousand
// records, not one per record. Arena slots are written once and never
// reused, since produced records keep pointing at them until acknowledged.
func (p *provenance) withHeader(hs []kgo.RecordHeader, skip int, v []byte) []kgo.RecordHeader {
	n := len(hs) + 1
	if cap(p.arena)-len(p.arena) < n {
		p.arena = make([]kgo.RecordHeader, 0, max(4096, 4*n))
	}
	start := len(p.arena)
	for i := range hs {
		if i != skip {
			p.arena = append(p.arena, hs[i])
		}
	}
	p.arena = append(p.arena, kgo.RecordHeader{Key: ProvenanceHeader, Value: v})
	return p.arena[start:len(p.arena):len(p.arena)]
}

// onPath reports whether alias is one of the comma-separated aliases of path.
func onPath(path, alias []byte) bool {
	for len(path) > 0 {
		i := bytes.IndexByte(path, ',')
		if i < 0 {
			return bytes.Equal(path, alias)
		}
		if bytes.Equal(path[:i], alias) {
			return true
		}
		path = path[i+1:]
	}
	return false
}
