package flows

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// testPKI is a CA with a broker and a client certificate, written as PEM
// files in a temporary directory.
type testPKI struct {
	dir                           string
	caFile, otherCAFile           string
	serverCert                    tls.Certificate
	clientCert, clientKey         string // separate files
	clientBundle                  string // key and chain in one file
	clientKeyDER                  []byte // PKCS#8
	ca                            *x509.Certificate
	caKey                         *ecdsa.PrivateKey
	serverName                    string
	clientCertPEM                 []byte
	encryptedKey, encryptedBundle string // PBES2-encrypted PKCS#8 key, password "s3cret"
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), serverName: "broker.test"}
	p.ca, p.caKey = newCA(t, "test CA")
	p.caFile = p.write(t, "ca.pem", pemBlock("CERTIFICATE", p.ca.Raw))
	otherCA, _ := newCA(t, "other CA")
	p.otherCAFile = p.write(t, "other-ca.pem", pemBlock("CERTIFICATE", otherCA.Raw))

	serverDER, serverKey := p.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: p.serverName},
		DNSNames:    []string{p.serverName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.serverCert = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}

	clientDER, clientKey := p.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "mm2go"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.clientKeyDER = keyDER
	p.clientCertPEM = pemBlock("CERTIFICATE", clientDER)
	p.clientCert = p.write(t, "client.crt", p.clientCertPEM)
	p.clientKey = p.write(t, "client.key", pemBlock("PRIVATE KEY", keyDER))
	p.clientBundle = p.write(t, "client.pem", append(pemBlock("PRIVATE KEY", keyDER), p.clientCertPEM...))
	enc := pemBlock("ENCRYPTED PRIVATE KEY", encryptPKCS8(t, keyDER, "s3cret"))
	p.encryptedKey = p.write(t, "client-enc.key", enc)
	p.encryptedBundle = p.write(t, "client-enc.pem", append(append([]byte(nil), p.clientCertPEM...), enc...))
	return p
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func (p *testPKI) issue(t *testing.T, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func (p *testPKI) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// encryptPKCS8 encrypts a PKCS#8 key as openssl pkcs8 -topk8 -v2
// aes-256-cbc does: PBES2, PBKDF2 with HMAC-SHA256, AES-256-CBC.
func encryptPKCS8(t *testing.T, der []byte, password string) []byte {
	t.Helper()
	salt, iv := make([]byte, 16), make([]byte, aes.BlockSize)
	rand.Read(salt)
	rand.Read(iv)
	const iter = 2048
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(der)%aes.BlockSize
	plain := append(append([]byte(nil), der...), make([]byte, pad)...)
	for i := len(der); i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	data := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(data, plain)

	mustMarshal := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kdfParams := mustMarshal(pbkdf2Params{Salt: salt, Iter: iter,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}})
	encParams := mustMarshal(iv)
	pbes2 := mustMarshal(pbes2Params{
		KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		Enc: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: encParams}},
	})
	return mustMarshal(encryptedPrivateKeyInfo{
		Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: pbes2}},
		Data: data,
	})
}

// serveTLS starts a TLS server that requires a client certificate from
// p's CA and answers each handshake; it returns the address.
func (p *testPKI) serveTLS(t *testing.T) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// handshake dials addr with cfg and completes a TLS handshake.
func handshake(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	// TLS 1.3 reports a rejected client certificate on the first read.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err != nil && !strings.Contains(err.Error(), "EOF") {
		return err
	}
	return nil
}

func TestClientOpts_TLS(t *testing.T) {
	p := newTestPKI(t)
	addr := p.serveTLS(t)
	for _, tc := range []struct {
		name       string
		tls        TLS
		props      map[string]string
		serverName string // dialed name, when TLS.ServerName is empty
		wantErr    string // from ClientOpts
		wantDial   string // from the handshake; "" means it succeeds
	}{
		{name: "mutual TLS", tls: TLS{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, serverName: p.serverName},
		{name: "key and chain in one file", tls: TLS{CAFile: p.caFile, CertFile: p.clientBundle, KeyFile: p.clientBundle}, serverName: p.serverName},
		{name: "encrypted key", tls: TLS{CAFile: p.caFile, CertFile: p.encryptedBundle, KeyFile: p.encryptedBundle, KeyPassword: "s3cret"}, serverName: p.serverName},
		{name: "server name override", tls: TLS{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey, ServerName: p.serverName}, serverName: "ignored.test"},
		{name: "host name mismatch", tls: TLS{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, serverName: "other.test",
			wantDial: "certificate is valid for broker.test, not other.test"},
		{name: "host name check off", tls: TLS{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, serverName: "other.test",
			props: map[string]string{"ssl.endpoint.identification.algorithm": ""}},
		{name: "host name check off still verifies the chain", tls: TLS{CAFile: p.otherCAFile, CertFile: p.clientCert, KeyFile: p.clientKey}, serverName: p.serverName,
			props: map[string]string{"ssl.endpoint.identification.algorithm": ""}, wantDial: "certificate signed by unknown authority"},
		{name: "untrusted broker", tls: TLS{CAFile: p.otherCAFile, CertFile: p.clientCert, KeyFile: p.clientKey}, serverName: p.serverName,
			wantDial: "certificate signed by unknown authority"},
		{name: "insecure", tls: TLS{CertFile: p.clientCert, KeyFile: p.clientKey, InsecureSkipVerify: true}, serverName: "whatever"},
		{name: "no client certificate", tls: TLS{CAFile: p.caFile}, serverName: p.serverName, wantDial: "certificate required"},

		{name: "missing CA file", tls: TLS{CAFile: filepath.Join(p.dir, "nope.pem")},
			wantErr: "clusters.c.tls.ca_file: read CA file: open "},
		{name: "CA file without certificates", tls: TLS{CAFile: p.clientKey},
			wantErr: "clusters.c.tls.ca_file: no PEM certificates in "},
		{name: "missing key file", tls: TLS{CertFile: p.clientCert, KeyFile: filepath.Join(p.dir, "nope.key")},
			wantErr: "clusters.c.tls.key_file: read key file: "},
		{name: "key file without a key", tls: TLS{CertFile: p.clientCert, KeyFile: p.clientCert},
			wantErr: "clusters.c.tls.key_file: no PEM private key in "},
		{name: "encrypted key without password", tls: TLS{CertFile: p.clientCert, KeyFile: p.encryptedKey},
			wantErr: "clusters.c.tls.key_file: key in " + p.encryptedKey + " is encrypted; set the key password"},
		{name: "encrypted key with wrong password", tls: TLS{CertFile: p.clientCert, KeyFile: p.encryptedKey, KeyPassword: "wrong"},
			wantErr: "wrong password or corrupt key"},
		{name: "key does not match certificate", tls: TLS{CertFile: p.caFile, KeyFile: p.clientKey},
			wantErr: "clusters.c.tls.cert_file: load client certificate"},
		{name: "bad endpoint identification", tls: TLS{}, props: map[string]string{"ssl.endpoint.identification.algorithm": "ldap"},
			wantErr: `clusters.c.properties.ssl.endpoint.identification.algorithm: expected https or an empty value, got "ldap"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsCopy := tc.tls
			c := &Cluster{Alias: "c", BootstrapServers: []string{addr}, SecurityProtocol: "SSL", TLS: &tlsCopy, Properties: tc.props}
			opts, err := c.ClientOpts()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ClientOpts() = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ClientOpts(): %v", err)
			}
			cl, err := kgo.NewClient(opts.Common...)
			if err != nil {
				t.Fatalf("kgo.NewClient: %v", err)
			}
			defer cl.Close()
			cfg, ok := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
			if !ok || cfg == nil {
				t.Fatalf("no DialTLSConfig in the options")
			}
			dialCfg := cfg.Clone()
			if dialCfg.ServerName == "" {
				dialCfg.ServerName = tc.serverName // what kgo does with the broker's host
			}
			err = handshake(addr, dialCfg)
			if tc.wantDial == "" && err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if tc.wantDial != "" && (err == nil || !strings.Contains(err.Error(), tc.wantDial)) {
				t.Fatalf("handshake = %v, want error containing %q", err, tc.wantDial)
			}
		})
	}
}

func TestClientOpts_NoTLS(t *testing.T) {
	c := &Cluster{Alias: "c", BootstrapServers: []string{" a:9092 ", "b:9092"}, SecurityProtocol: "plaintext",
		TLS: &TLS{CAFile: "/nonexistent"}}
	cfg, err := c.TLSConfig()
	if err != nil || cfg != nil {
		t.Fatalf("TLSConfig() for PLAINTEXT = %v, %v; want nil, nil", cfg, err)
	}
	opts, err := c.ClientOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, opts.Common)
	if got := cl.OptValue(kgo.SeedBrokers); strings.Join(got.([]string), ",") != "a:9092,b:9092" {
		t.Errorf("SeedBrokers = %v", got)
	}
	if got := cl.OptValue(kgo.DialTLSConfig); got.(*tls.Config) != nil {
		t.Errorf("DialTLSConfig = %v, want none", got)
	}
	c.SecurityProtocol = "SSL"
	c.TLS = nil
	if cfg, err := c.TLSConfig(); err != nil || cfg == nil || cfg.RootCAs != nil || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLSConfig() for SSL without files = %+v, %v; want system roots, TLS 1.2+", cfg, err)
	}
}

func newClient(t *testing.T, opts ...[]kgo.Opt) *kgo.Client {
	t.Helper()
	var all []kgo.Opt
	for _, o := range opts {
		all = append(all, o...)
	}
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestClientOpts_SASL(t *testing.T) {
	for _, tc := range []struct {
		protocol, mechanism, wantName string
	}{
		{"SASL_PLAINTEXT", "PLAIN", "PLAIN"},
		{"SASL_PLAINTEXT", "scram-sha-256", "SCRAM-SHA-256"},
		{"SASL_SSL", "SCRAM-SHA-512", "SCRAM-SHA-512"},
		{"", "PLAIN", "PLAIN"}, // implied SASL_PLAINTEXT
	} {
		t.Run(tc.mechanism, func(t *testing.T) {
			c := &Cluster{Alias: "c", BootstrapServers: []string{"c:9092"}, SecurityProtocol: tc.protocol,
				SASL: &SASL{Mechanism: tc.mechanism, Username: "user", Password: "pass"}}
			opts, err := c.ClientOpts()
			if err != nil {
				t.Fatal(err)
			}
			cl := newClient(t, opts.Common)
			ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
			if len(ms) != 1 || ms[0].Name() != tc.wantName {
				t.Fatalf("SASL mechanisms = %v, want %s", ms, tc.wantName)
			}
			_, msg, err := ms[0].Authenticate(t.Context(), "c:9092")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(msg), "user") {
				t.Errorf("first %s message %q does not carry the user name", tc.wantName, msg)
			}
			if gotTLS := cl.OptValue(kgo.DialTLSConfig).(*tls.Config) != nil; gotTLS != (tc.protocol == "SASL_SSL") {
				t.Errorf("TLS = %v for %s", gotTLS, tc.protocol)
			}
		})
	}
	c := &Cluster{Alias: "c", BootstrapServers: []string{"c:9092"}, SecurityProtocol: "SASL_SSL",
		SASL: &SASL{Mechanism: "NTLM", Username: "u", Password: "p"}}
	if _, err := c.ClientOpts(); err == nil || !strings.Contains(err.Error(), `clusters.c.sasl.mechanism: mechanism "NTLM" is not supported`) {
		t.Errorf("ClientOpts with NTLM = %v", err)
	}
	c.SASL = nil
	if _, err := c.ClientOpts(); err == nil || !strings.Contains(err.Error(), "clusters.c.sasl: required") {
		t.Errorf("ClientOpts without SASL = %v", err)
	}
	if s := (&SASL{Mechanism: "PLAIN", Username: "u", Password: "hunter2"}).String(); strings.Contains(s, "hunter2") {
		t.Errorf("SASL.String() = %q leaks the password", s)
	}
}

func TestClientOpts_Properties(t *testing.T) {
	f, err := Parse([]byte(`
clusters = A, B
A.bootstrap.servers = a:9092
A.client.id = mm2go-a
A.request.timeout.ms = 20000
A.metadata.max.age.ms = 1000
A.fetch.max.bytes = 1000
A.consumer.fetch.max.bytes = 209715200
A.consumer.max.partition.fetch.bytes = 2097152
A.consumer.fetch.max.wait.ms = 250
A.consumer.fetch.min.bytes = 10
A.consumer.isolation.level = READ_COMMITTED
A.consumer.auto.offset.reset = latest
A.producer.linger.ms = 25
A.producer.batch.size = 65536
A.producer.max.request.size = 2097152
A.producer.buffer.memory = 8388608
A.enable.metrics.push = false
A.producer.compression.type = zstd
A.producer.delivery.timeout.ms = 120000
A.producer.max.in.flight.requests.per.connection = 5
A.admin.request.timeout.ms = 40000
A.connections.max.idle.ms = 60000
A.socket.connection.setup.timeout.ms = 3000
A.offset.flush.interval.ms = 1000
A.consumer.enable.auto.commit = true
A.producer.fetch.max.bytes = 1
A.receive.buffer.bytes = 1
B.bootstrap.servers = b:9092
`), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	opts, err := f.Clusters["A"].ClientOpts()
	if err != nil {
		t.Fatalf("ClientOpts: %v", err)
	}
	consumer := newClient(t, opts.Common, opts.Consumer)
	producer := newClient(t, opts.Common, opts.Producer)
	admin := newClient(t, opts.Common, opts.Admin)
	for _, tc := range []struct {
		name string
		cl   *kgo.Client
		opt  any
		want any
	}{
		{"client.id", consumer, kgo.ClientID, "mm2go-a"},
		{"request.timeout.ms", consumer, kgo.RequestTimeoutOverhead, 20 * time.Second},
		{"admin.request.timeout.ms", admin, kgo.RequestTimeoutOverhead, 40 * time.Second},
		{"metadata.max.age.ms", consumer, kgo.MetadataMaxAge, time.Second},
		{"metadata min age follows", consumer, kgo.MetadataMinAge, time.Second},
		{"connections.max.idle.ms", producer, kgo.ConnIdleTimeout, time.Minute},
		{"socket.connection.setup.timeout.ms", producer, kgo.DialTimeout, 3 * time.Second},
		{"consumer.fetch.max.bytes wins over fetch.max.bytes", consumer, kgo.FetchMaxBytes, int32(209715200)},
		{"broker read bytes raised", consumer, kgo.BrokerMaxReadBytes, int32(209715200)},
		{"max.partition.fetch.bytes", consumer, kgo.FetchMaxPartitionBytes, int32(2097152)},
		{"fetch.max.wait.ms", consumer, kgo.FetchMaxWait, 250 * time.Millisecond},
		{"fetch.min.bytes", consumer, kgo.FetchMinBytes, int32(10)},
		{"isolation.level", consumer, kgo.FetchIsolationLevel, int8(1)}, // read_committed
		{"linger.ms", producer, kgo.ProducerLinger, 25 * time.Millisecond},
		{"max.request.size, the larger than batch.size", producer, kgo.ProducerBatchMaxBytes, int32(2097152)},
		{"buffer.memory", producer, kgo.MaxBufferedBytes, int64(8388608)},
		{"enable.metrics.push", admin, kgo.DisableClientMetrics, true},
		{"delivery.timeout.ms", producer, kgo.RecordDeliveryTimeout, 2 * time.Minute},
		{"producer options stay off consumers", consumer, kgo.ProducerLinger, 10 * time.Millisecond},
		{"consumer options stay off producers", producer, kgo.FetchMaxBytes, int32(50 << 20)},
	} {
		if got := tc.cl.OptValue(tc.opt); got != tc.want {
			t.Errorf("%s: got %v (%T), want %v (%T)", tc.name, got, got, tc.want, tc.want)
		}
	}
	if err := sameCompression(producer, kgo.ZstdCompression()); err != nil {
		t.Errorf("compression: %v", err)
	}
	all := strings.Join(f.Warnings, "\n")
	for _, w := range []string{
		"A.consumer.enable.auto.commit: ignored: mm2go's clients read assigned partitions without a consumer group, as MM2's do",
		"A.producer.fetch.max.bytes: ignored: fetch.max.bytes is not a producer property; Java ignores it too",
		"A.receive.buffer.bytes: ignored: tuning only: socket buffers are left to the operating system",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("no warning %q; warnings:\n%s", w, all)
		}
	}
	for _, quiet := range []string{"A.offset.flush.interval.ms", "A.client.id", "A.consumer.fetch.max.bytes", "max.in.flight"} {
		if strings.Contains(all, quiet) {
			t.Errorf("warning about %s, which mm2go uses:\n%s", quiet, all)
		}
	}
}

func TestClientOpts_BadProperties(t *testing.T) {
	c := &Cluster{Alias: "c", BootstrapServers: []string{"c:9092"}, Properties: map[string]string{
		"client.id":                                      "",
		"request.timeout.ms":                             "50",
		"consumer.auto.offset.reset":                     "smallest",
		"producer.compression.type":                      "brotli",
		"producer.delivery.timeout.ms":                   "500",
		"producer.max.in.flight.requests.per.connection": "0",
		"consumer.fetch.max.bytes":                       "2147483648",
		"metadata.max.age.ms":                            "x",
		"producer.buffer.memory":                         "0",
		"enable.metrics.push":                            "sometimes",
	}}
	_, err := c.ClientOpts()
	if err == nil {
		t.Fatal("ClientOpts with bad properties succeeded")
	}
	for _, w := range []string{
		"clusters.c.properties.client.id: empty client id",
		"clusters.c.properties.request.timeout.ms: 50ms is out of range: use 100 to 900000",
		`clusters.c.properties.consumer.auto.offset.reset: expected one of earliest, latest, none, got "smallest"`,
		`clusters.c.properties.producer.compression.type: expected one of gzip, lz4, none, snappy, zstd, got "brotli"`,
		"clusters.c.properties.producer.delivery.timeout.ms: 500ms is below kgo's minimum of 1s",
		"clusters.c.properties.producer.max.in.flight.requests.per.connection: 0 is out of range",
		"clusters.c.properties.consumer.fetch.max.bytes: 2147483648 is out of range",
		`clusters.c.properties.metadata.max.age.ms: expected milliseconds, got "x"`,
		"clusters.c.properties.producer.buffer.memory: 0 is out of range",
		`clusters.c.properties.enable.metrics.push: expected true or false, got "sometimes"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q; got:\n%v", w, err)
		}
	}
}

// TestDecryptPKCS8_OpenSSL checks decryption against keys openssl writes,
// with its default and a few other PBES2 choices.
func TestDecryptPKCS8_OpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl on PATH")
	}
	p := newTestPKI(t)
	for _, args := range [][]string{
		{},
		{"-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"},
		{"-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512"},
		{"-v2", "des3"},
	} {
		name := strings.Join(args, " ")
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "enc.pem")
			cmd := exec.Command(openssl, append([]string{"pkcs8", "-topk8", "-in", p.clientKey, "-out", out, "-passout", "pass:pw"}, args...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Skipf("openssl %v: %v\n%s", args, err, b)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(data)
			if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
				t.Fatalf("openssl wrote %q", data)
			}
			der, err := decryptPKCS8(block.Bytes, "pw")
			if err != nil {
				t.Fatalf("decryptPKCS8: %v", err)
			}
			if string(der) != string(p.clientKeyDER) {
				t.Error("decrypted key differs from the original")
			}
		})
	}
}

func TestDecryptPKCS8_Malformed(t *testing.T) {
	for _, der := range [][]byte{nil, {0x30, 0x00}, []byte("not asn1")} {
		if _, err := decryptPKCS8(der, "pw"); err == nil {
			t.Errorf("decryptPKCS8(%x) succeeded", der)
		}
	}
}

// sameCompression reports how the compressor of cl differs from kgo's
// default compressor for want: it compresses a sample batch and compares
// the codec and the bytes (the options share one compressor, see
// compression, so kgo.ProducerBatchCompression is not set).
func sameCompression(cl *kgo.Client, want kgo.CompressionCodec) error {
	got, _ := cl.OptValue(kgo.WithCompressor).(kgo.Compressor)
	if got == nil {
		return errors.New("no compressor")
	}
	ref, err := kgo.DefaultCompressor(want)
	if err != nil {
		return err
	}
	sample := bytes.Repeat([]byte("mm2go compression sample 0123456789 "), 512)
	gb, gc := got.Compress(new(bytes.Buffer), sample)
	gb = bytes.Clone(gb)
	wb, wc := ref.Compress(new(bytes.Buffer), sample)
	if gc != wc || !bytes.Equal(gb, wb) {
		return fmt.Errorf("codec %v (%d bytes), want %v (%d bytes)", gc, len(gb), wc, len(wb))
	}
	return nil
}

// TestClientOpts_CompressionSharedByConcurrentClients builds producers of
// one cluster's options at once, as tasks starting together do: under
// -race, kgo's NewClient writing to a codec slice shared through the
// options was a data race.
func TestClientOpts_CompressionSharedByConcurrentClients(t *testing.T) {
	f, err := Parse([]byte("clusters = A\nA.bootstrap.servers = 127.0.0.1:1\nA.producer.compression.type = lz4\n"), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := f.Clusters["A"].ClientOpts()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts.Common...), opts.Producer...)...)
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			if err := sameCompression(cl, kgo.Lz4Compression()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestClientOpts_CompressionNone: compression.type=none leaves batches
// uncompressed; kgo's default compressor (snappy) must not take its place.
func TestClientOpts_CompressionNone(t *testing.T) {
	f, err := Parse([]byte("clusters = A\nA.bootstrap.servers = 127.0.0.1:1\nA.producer.compression.type = none\n"), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := f.Clusters["A"].ClientOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts.Common...), opts.Producer...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, _ := cl.OptValue(kgo.WithCompressor).(kgo.Compressor)
	if c == nil {
		t.Fatal("no compressor")
	}
	sample := bytes.Repeat([]byte("mm2go compression sample 0123456789 "), 512)
	if out, codec := c.Compress(new(bytes.Buffer), sample); codec != kgo.CodecNone || out != nil {
		t.Errorf("compression.type=none compresses with codec %v (%d bytes)", codec, len(out))
	}
}
