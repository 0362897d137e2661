package harness

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP proxy on a loopback port that injects network faults
// between Kafka clients and one broker:
//
//   - SetDelay adds latency to every chunk of bytes in both directions
//     (latency, not a bandwidth cap: chunks in flight overlap);
//   - ResetAll breaks every open connection with a TCP reset;
//   - BlackHole stops forwarding: open connections carry nothing more in
//     either direction, and new connections are accepted but never dialed
//     through, so nothing is ever answered. Nothing is dropped: bytes held
//     meanwhile flow once Heal is called, as TCP delivers what it
//     retransmits when a hung network comes back. Call ResetAll before Heal
//     for a network that comes back with its connections gone.
//
// A broker must advertise the proxy's address (BrokerConfig.Proxy), since
// clients dial the addresses in metadata, not their bootstrap address.
type Proxy struct {
	ln       net.Listener
	accepted atomic.Int64
	resets   atomic.Int64

	mu       sync.Mutex
	upstream string
	delay    time.Duration
	gate     chan struct{} // closed while forwarding; open (blocking) while black-holed
	conns    map[*proxyConn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// NewProxy listens on a free loopback port. Set its upstream (the broker's
// listen address) before clients connect; StartBroker does that for a
// broker with BrokerConfig.Proxy.
func NewProxy() (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, gate: make(chan struct{}), conns: make(map[*proxyConn]struct{})}
	close(p.gate)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listen address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetUpstream sets the address new connections are forwarded to.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

// SetDelay sets the latency added to each direction; 0 removes it.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// BlackHole stops all forwarding until Heal.
func (p *Proxy) BlackHole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already black-holed
	}
}

// Heal ends a black hole: held bytes and connections go through.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// ResetAll breaks every open connection with a TCP reset (RST) on both
// sides and returns how many it broke.
func (p *Proxy) ResetAll() int {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.reset()
	}
	p.resets.Add(int64(len(conns)))
	return len(conns)
}

// Accepted is how many connections the proxy accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Resets is how many connections ResetAll broke so far.
func (p *Proxy) Resets() int64 { return p.resets.Load() }

// Close stops the proxy, resets its connections and waits for its
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.accepted.Add(1)
		c := &proxyConn{p: p, client: conn, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			resetConn(conn)
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// open waits until the proxy forwards (no black hole); false if the
// connection ended first.
func (p *Proxy) open(done <-chan struct{}) bool {
	for {
		p.mu.Lock()
		g := p.gate
		p.mu.Unlock()
		select {
		case <-done:
			return false
		case <-g:
			p.mu.Lock()
			still := p.gate == g
			p.mu.Unlock()
			if still {
				return true
			}
		}
	}
}

func (p *Proxy) currentDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

// proxyConn is one client connection and its upstream connection.
type proxyConn struct {
	p        *Proxy
	client   net.Conn
	upstream net.Conn // set once dialed; guarded by p.mu
	done     chan struct{}
	once     sync.Once
}

func (c *proxyConn) run() {
	defer c.p.wg.Done()
	defer func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	}()
	// Accepted, then nothing until the network works: a client in a black
	// hole sees its connection open and its first request unanswered.
	if !c.p.open(c.done) {
		return
	}
	c.p.mu.Lock()
	addr := c.p.upstream
	c.p.mu.Unlock()
	up, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil { // broker down: the client sees its connection refused, late
		c.reset()
		return
	}
	c.p.mu.Lock()
	c.upstream = up
	c.p.mu.Unlock()
	select {
	case <-c.done: // reset while dialing
		resetConn(up)
		return
	default:
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.pipe(c.client, up) })
	wg.Go(func() { c.pipe(up, c.client) })
	wg.Wait()
}

// chunk is bytes read from one side, stamped with when they were read.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst through the proxy's faults until either side
// fails; then it ends the connection.
func (c *proxyConn) pipe(src, dst net.Conn) {
	chunks := make(chan chunk, 64)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case chunks <- chunk{b: buf[:n], at: time.Now()}:
				case <-c.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		c.close()
		<-readDone
	}()
	for ch := range chunks {
		if d := c.p.currentDelay(); d > 0 {
			if wait := time.Until(ch.at.Add(d)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-c.done:
					t.Stop()
					return
				}
			}
		}
		if !c.p.open(c.done) {
			return
		}
		if _, err := dst.Write(ch.b); err != nil {
			return
		}
	}
}

// close ends both connections normally (FIN).
func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.p.mu.Lock()
		up := c.upstream
		c.p.mu.Unlock()
		if up != nil {
			up.Close()
		}
	})
}

// reset ends both connections with a TCP reset.
func (c *proxyConn) reset() {
	c.once.Do(func() {
		close(c.done)
		resetConn(c.client)
		c.p.mu.Lock()
		up := c.upstream
		c.p.mu.Unlock()
		if up != nil {
			resetConn(up)
		}
	})
}

// resetConn closes conn with SO_LINGER 0, which sends a RST instead of FIN.
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

var _ io.Closer = (*Proxy)(nil)
