package harness

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer echoes lines back until closed.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	return ln.Addr().String()
}

func newTestProxy(t *testing.T) *Proxy {
	t.Helper()
	px, err := NewProxy()
	if err != nil {
		t.Fatal(err)
	}
	px.SetUpstream(echoServer(t))
	t.Cleanup(func() { px.Close() })
	return px
}

// roundTrip writes a line and reads it back, returning how long it took.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader) (time.Duration, error) {
	t.Helper()
	began := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := r.ReadString('\n')
	if err == nil && line != "ping\n" {
		t.Fatalf("echo %q, want ping", line)
	}
	return time.Since(began), err
}

func TestProxy_Delay(t *testing.T) {
	px := newTestProxy(t)
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := roundTrip(t, c, r); err != nil {
		t.Fatal(err)
	}
	px.SetDelay(100 * time.Millisecond)
	// One delay each way: at least 200ms (a lower bound; a busy machine
	// only adds to it).
	if d, err := roundTrip(t, c, r); err != nil || d < 200*time.Millisecond {
		t.Errorf("round trip with 100ms each way took %v (%v), want >= 200ms", d, err)
	}
}

func TestProxy_ResetAll(t *testing.T) {
	px := newTestProxy(t)
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := roundTrip(t, c, r); err != nil {
		t.Fatal(err)
	}
	if n := px.ResetAll(); n != 1 {
		t.Fatalf("ResetAll broke %d connections, want 1", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after a reset: %v, want connection reset by peer", err)
	}
	// New connections work as before.
	c2, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := roundTrip(t, c2, bufio.NewReader(c2)); err != nil {
		t.Errorf("round trip after the reset: %v", err)
	}
}

func TestProxy_BlackHole(t *testing.T) {
	px := newTestProxy(t)
	old, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldR := bufio.NewReader(old)
	if _, err := roundTrip(t, old, oldR); err != nil {
		t.Fatal(err)
	}
	px.BlackHole()
	// A new connection is accepted and never answered; neither is the old
	// one any more.
	fresh, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatalf("connect during a black hole: %v", err)
	}
	defer fresh.Close()
	conns := []struct {
		name string
		c    net.Conn
		r    *bufio.Reader
	}{{"old", old, oldR}, {"new", fresh, bufio.NewReader(fresh)}}
	for _, c := range conns {
		if _, err := c.c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		_ = c.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.r.ReadByte(); !isTimeout(err) {
			t.Errorf("%s connection: read in a black hole: %v, want a timeout", c.name, err)
		}
	}
	// Healed, both get the answers that were held.
	px.Heal()
	for _, c := range conns {
		_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if line, err := c.r.ReadString('\n'); err != nil || line != "ping\n" {
			t.Errorf("%s connection: held answer after Heal: %q, %v", c.name, line, err)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
