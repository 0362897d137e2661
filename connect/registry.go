package connect

import (
	"fmt"
	"sort"
	"sync"
)

// Registry maps connector class names to constructors. There is no global
// registry: build one with NewRegistry and register what the worker may run
// (connectors.Register does it for mm2go's three connectors).
type Registry struct {
	mu sync.RWMutex // guards m
	m  map[string]func() Connector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: make(map[string]func() Connector)} }

// Register adds a connector class. It panics if class is empty, newFn is nil
// or class is registered already: those are programming errors, as with
// database/sql's Register.
func (r *Registry) Register(class string, newFn func() Connector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if class == "" || newFn == nil {
		panic("connect: Register needs a class name and a constructor")
	}
	if _, dup := r.m[class]; dup {
		panic(fmt.Sprintf("connect: connector class %q registered twice", class))
	}
	r.m[class] = newFn
}

// Classes returns the registered class names, sorted.
func (r *Registry) Classes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for c := range r.m {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func (r *Registry) lookup(class string) (func() Connector, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.m[class]
	return f, ok
}
