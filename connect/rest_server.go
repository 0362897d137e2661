package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// RESTListener says where and how a worker serves its REST API.
type RESTListener struct {
	// Addr is the host:port to listen on: "127.0.0.1:8083"; an empty host
	// or 0.0.0.0 listens on every address; port 0 picks a free one.
	Addr string
	// CertFile and KeyFile are a PEM certificate chain and its key: the
	// listener speaks HTTPS. They are read again when they change (a
	// rotated certificate needs no restart). The workers of a group
	// present the same certificate to each other when they forward
	// requests.
	CertFile, KeyFile string
	// ClientCAFile is a PEM file of CA certificates: with it, every client
	// must present a certificate one of them signed (mutual TLS). The
	// workers also trust it, besides the system's roots, for each other's
	// certificates.
	ClientCAFile string
	// Token is the bearer token of the REST API (RESTConfig.Token).
	Token string
	// AllowInsecure lets the listener serve beyond this host (an address
	// that is not loopback) without authentication: without a token, and
	// without TLS client certificates. Anyone who reaches it could then
	// pause, stop and restart the flows and read their configs.
	AllowInsecure bool
	// AdvertisedURL is how the other workers of the group reach this one
	// ("https://mm2go-0.mm2go:8083"). Default: the listener's scheme,
	// host and port; the host name when it listens on every address.
	AdvertisedURL string
}

// RESTServer is a worker's REST listener: ListenREST opens it, Serve
// serves a handler on it, Close stops it.
type RESTServer struct {
	ln       net.Listener
	url      string
	workerID string
	tls      *tls.Config
	client   *http.Client
	srv      *http.Server
	done     chan struct{}
}

// ListenREST opens the REST listener. It refuses to listen beyond this
// host without authentication (a token, or TLS client certificates)
// unless AllowInsecure says the operator accepts it, and says what to set.
func ListenREST(l RESTListener) (*RESTServer, error) {
	host, port, err := net.SplitHostPort(l.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: want host:port, such as 127.0.0.1:8083: %w", l.Addr, err)
	}
	if (l.CertFile == "") != (l.KeyFile == "") {
		return nil, errors.New("a TLS certificate needs its key and the reverse: set both or neither")
	}
	if l.ClientCAFile != "" && l.CertFile == "" {
		return nil, errors.New("client certificates (a client CA) need TLS: set a certificate and its key too")
	}
	authenticated := l.Token != "" || l.ClientCAFile != ""
	if !loopback(host) && !authenticated && !l.AllowInsecure {
		what := "without TLS or a token"
		if l.CertFile != "" {
			what = "with TLS but without a token or client certificates"
		}
		return nil, fmt.Errorf("the REST API would listen on %s, beyond this host, %s: anyone who reaches it could pause, stop and restart the flows. "+
			"Set a bearer token (--http-token-file, or MM2GO_HTTP_TOKEN), or TLS with client certificates (--http-tls-cert, --http-tls-key, --http-tls-client-ca); "+
			"or listen on 127.0.0.1; or, if the network is private to the workers and their operators, accept it with --http-allow-insecure", l.Addr, what)
	}
	s := &RESTServer{done: make(chan struct{})}
	var roots *x509.CertPool
	if l.CertFile != "" {
		cr := &certReloader{certFile: l.CertFile, keyFile: l.KeyFile}
		if _, err := cr.get(); err != nil {
			return nil, err
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cr.get() }}
		roots, err = x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if l.ClientCAFile != "" {
			pem, err := os.ReadFile(l.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("read the client CA: %w", err)
			}
			cas := x509.NewCertPool()
			if !cas.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("client CA %s holds no PEM certificate", l.ClientCAFile)
			}
			roots.AppendCertsFromPEM(pem)
			s.tls.ClientCAs, s.tls.ClientAuth = cas, tls.RequireAndVerifyClientCert
		}
		s.client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cr.get() }},
			ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
		}}
	} else {
		s.client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}}
	}
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	s.url = scheme + "://" + net.JoinHostPort(advertisedHost(host), port)
	if l.AdvertisedURL != "" {
		u, err := url.Parse(l.AdvertisedURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ln.Close()
			return nil, fmt.Errorf("advertised URL %q: want http://host:port or https://host:port", l.AdvertisedURL)
		}
		s.url = u.Scheme + "://" + u.Host
	}
	u, _ := url.Parse(s.url)
	s.workerID = u.Host
	if u.Port() == "" {
		s.workerID = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	return s, nil
}

// advertisedHost is the host other workers reach a listener on host at:
// the host name when it listens on every address.
func advertisedHost(host string) string {
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			return h
		}
		return "localhost"
	}
	return host
}

// loopback reports whether host is this host only: a loopback address, or
// a name that resolves to loopback addresses only.
func loopback(host string) bool {
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	if host == "localhost" {
		return true
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// URL is how the other workers of the group reach this one: the advertised
// URL (scheme://host:port).
func (s *RESTServer) URL() string { return s.url }

// WorkerID names the worker: the host:port of its advertised URL, as
// Connect's worker_id.
func (s *RESTServer) WorkerID() string { return s.workerID }

// Addr is the address the listener listens on.
func (s *RESTServer) Addr() net.Addr { return s.ln.Addr() }

// Client is the HTTP client the worker reaches the other workers of its
// group with: it trusts their certificates and presents this worker's
// (RESTConfig.Client).
func (s *RESTServer) Client() *http.Client { return s.client }

// Serve serves h in its own goroutine until Close.
func (s *RESTServer) Serve(h http.Handler) {
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, TLSConfig: s.tls}
	go func() {
		defer close(s.done)
		if s.tls != nil {
			_ = s.srv.ServeTLS(s.ln, "", "")
			return
		}
		_ = s.srv.Serve(s.ln)
	}()
}

// Close stops serving: requests under way get up to 5s to finish.
func (s *RESTServer) Close() error {
	if s.srv == nil {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	s.client.CloseIdleConnections()
	return err
}

// certReloader loads a certificate and its key, again when either file
// changed.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	modCert time.Time
	modKey  time.Time
}

func (c *certReloader) get() (*tls.Certificate, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil && ci.ModTime().Equal(c.modCert) && ki.ModTime().Equal(c.modKey) {
		return c.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		if c.cert != nil {
			return c.cert, nil // half-written during a rotation: keep the last good one
		}
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.modCert, c.modKey = &cert, ci.ModTime(), ki.ModTime()
	return c.cert, nil
}
