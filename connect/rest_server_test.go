package connect_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
)

// testCA is a CA that signs certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for 127.0.0.1 (server and client use) and its
// key into dir, and returns their paths.
func (ca *testCA) issue(t *testing.T, dir, name string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestListenREST_RefusesUnauthenticatedBeyondThisHost: a listener on an
// address that is not loopback needs a token or client certificates, or
// the operator's explicit consent.
func TestListenREST_RefusesUnauthenticatedBeyondThisHost(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	cert, key := ca.issue(t, dir, "server", 2)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		l    connect.RESTListener
		want string // "" listens
	}{
		{"loopback", connect.RESTListener{Addr: "127.0.0.1:0"}, ""},
		{"localhost", connect.RESTListener{Addr: "localhost:0"}, ""},
		{"every address", connect.RESTListener{Addr: ":0"}, "without TLS or a token"},
		{"0.0.0.0", connect.RESTListener{Addr: "0.0.0.0:0"}, "--http-allow-insecure"},
		{"TLS without authentication", connect.RESTListener{Addr: ":0", CertFile: cert, KeyFile: key}, "with TLS but without a token or client certificates"},
		{"token", connect.RESTListener{Addr: ":0", Token: "t"}, ""},
		{"client certificates", connect.RESTListener{Addr: ":0", CertFile: cert, KeyFile: key, ClientCAFile: caFile}, ""},
		{"accepted", connect.RESTListener{Addr: ":0", AllowInsecure: true}, ""},
		{"cert without key", connect.RESTListener{Addr: "127.0.0.1:0", CertFile: cert}, "needs its key"},
		{"client CA without TLS", connect.RESTListener{Addr: "127.0.0.1:0", ClientCAFile: caFile}, "need TLS"},
		{"missing cert", connect.RESTListener{Addr: "127.0.0.1:0", CertFile: cert + "x", KeyFile: key}, "TLS certificate"},
		{"bad address", connect.RESTListener{Addr: "8083"}, "want host:port"},
		{"bad advertised URL", connect.RESTListener{Addr: "127.0.0.1:0", AdvertisedURL: "ftp://x"}, "advertised URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := connect.ListenREST(tc.l)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("ListenREST(%+v) listened, want an error %q", tc.l, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ListenREST = %v, want %q", err, tc.want)
			}
		})
	}
	s, err := connect.ListenREST(connect.RESTListener{Addr: "127.0.0.1:0", AdvertisedURL: "https://mm2go-0.mm2go:18083/"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.URL() != "https://mm2go-0.mm2go:18083" || s.WorkerID() != "mm2go-0.mm2go:18083" {
		t.Errorf("advertised: URL %s, worker id %s", s.URL(), s.WorkerID())
	}
}

// TestRESTServer_TLSAndToken: over mutual TLS, a client without a
// certificate is refused, one with a certificate but no token gets 401,
// with both 200; two workers forward to each other over it; a rotated
// certificate is served without a restart.
func TestRESTServer_TLSAndToken(t *testing.T) {
	const token = "tls-token"
	dir := t.TempDir()
	ca := newTestCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()

	type worker struct {
		w    *connect.Worker
		s    *connect.RESTServer
		conn *connecttest.Connector
	}
	var ws []worker
	for i, id := range []string{"w1", "w2"} {
		cert, key := ca.issue(t, dir, id, int64(10+i))
		s, err := connect.ListenREST(connect.RESTListener{Addr: ":0", CertFile: cert, KeyFile: key, ClientCAFile: caFile, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		cfg := connecttest.Config(target)
		cfg.WorkerID = s.WorkerID()
		conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
		w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
		s.Serve(w.RESTHandler(connect.RESTConfig{Token: token, Client: s.Client()}))
		t.Cleanup(func() { s.Close() })
		ws = append(ws, worker{w, s, conn})
	}
	member := func(i int) connect.GroupMember {
		_, port, _ := net.SplitHostPort(ws[i].s.Addr().String())
		return connect.GroupMember{WorkerID: ws[i].s.WorkerID(), URL: "https://127.0.0.1:" + port}
	}
	m1, m2 := member(0), member(1)
	for i, self := range []connect.GroupMember{m1, m2} {
		connect.SetGroupView(ws[i].w, &fakeView{self: self, members: []connect.GroupMember{m1, m2}, leader: m2})
		connecttest.Run(t, ws[i].w, ws[i].conn.Spec())
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	clientCert, clientKey := ca.issue(t, dir, "operator", 99)
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	get := func(certs []tls.Certificate, tok, method, path string) (int, string, error) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		defer hc.CloseIdleConnections()
		req, _ := http.NewRequest(method, m1.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if _, _, err := get(nil, token, "GET", "/connectors"); err == nil {
		t.Error("a client without a certificate got through")
	}
	if code, _, err := get([]tls.Certificate{pair}, "", "GET", "/connectors"); err != nil || code != 401 {
		t.Errorf("without the token: %d %v, want 401", code, err)
	}
	if code, body, err := get([]tls.Certificate{pair}, token, "GET", "/connectors"); err != nil || code != 200 || !strings.Contains(body, fakeName) {
		t.Errorf("with certificate and token: %d %s %v", code, body, err)
	}
	// w1 forwards the stop to the leader, w2, over mutual TLS with the token.
	if code, body, err := get([]tls.Certificate{pair}, token, "PUT", "/connectors/"+fakeName+"/stop"); err != nil || code != 204 {
		t.Fatalf("stop through w1: %d %s %v", code, body, err)
	}
	if s, _ := ws[1].w.TargetState(fakeName); s != connect.TargetStopped {
		t.Errorf("w2's target state = %s, want STOPPED", s)
	}
	// A rotated certificate is served from the next handshake on.
	time.Sleep(10 * time.Millisecond) // a new modification time
	ca.issue(t, dir, "w1", 77)
	conn, err := tls.Dial("tcp", "127.0.0.1:"+strings.TrimPrefix(m1.URL, "https://127.0.0.1:"), &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if sn := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); sn != 77 {
		t.Errorf("serial of the served certificate = %d, want 77 (the rotated one)", sn)
	}
}
