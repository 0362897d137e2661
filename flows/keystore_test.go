package flows

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"software.sslmate.com/src/go-pkcs12"
)

// The stores in testdata/stores were made by Java's keytool
// (testdata/stores/make.sh), so these tests read what Java writes.

// storePath returns the path of a committed store.
func storePath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "stores", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTLSBroker starts a kfake broker with the keytool-made broker
// certificate that requires a client certificate signed by the test CA.
func newTLSBroker(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(storePath(t, "broker.p12"))
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, "broker-pass")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(storePath(t, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	chain := [][]byte{leaf.Raw}
	for _, c := range cas {
		chain = append(chain, c.Raw)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// TestStores_MutualTLS connects to a TLS broker that requires a client
// certificate, with the key and trust stores written as mm2.properties
// keys and as YAML.
func TestStores_MutualTLS(t *testing.T) {
	addr := newTLSBroker(t)
	chain, err := os.ReadFile(storePath(t, "client-chain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(storePath(t, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(storePath(t, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// Kafka's documentation writes inline PEM over lines joined with "\",
	// which the .properties reader turns into spaces.
	inline := func(pem []byte) string {
		text := strings.ReplaceAll(strings.TrimSpace(string(pem)), "\r\n", "\n")
		return strings.ReplaceAll(text, "\n", " \\\n    ")
	}
	for _, tc := range []struct {
		name  string
		props string
		yaml  string
	}{
		{"JKS", `
A.ssl.truststore.location = ` + storePath(t, "truststore.jks") + `
A.ssl.truststore.password = trust-pass
A.ssl.keystore.location = ` + storePath(t, "client.jks") + `
A.ssl.keystore.password = store-pass
A.ssl.key.password = key-pass`, `
      truststore_file: ` + storePath(t, "truststore.jks") + `
      truststore_type: JKS
      truststore_password: trust-pass
      keystore_file: ` + storePath(t, "client.jks") + `
      keystore_type: JKS
      keystore_password: store-pass
      key_password: key-pass`},
		{"PKCS12", `
A.ssl.truststore.location = ` + storePath(t, "truststore.p12") + `
A.ssl.truststore.type = PKCS12
A.ssl.truststore.password = trust-pass
A.ssl.keystore.location = ` + storePath(t, "client.p12") + `
A.ssl.keystore.type = PKCS12
A.ssl.keystore.password = store-pass`, `
      truststore_file: ` + storePath(t, "truststore.p12") + `
      truststore_type: PKCS12
      truststore_password: trust-pass
      keystore_file: ` + storePath(t, "client.p12") + `
      keystore_type: PKCS12
      keystore_password: store-pass`},
		// Java's JKS key store reads PKCS12 files too, and the reverse.
		{"PKCS12 files typed JKS", `
A.ssl.truststore.location = ` + storePath(t, "truststore.p12") + `
A.ssl.truststore.password = trust-pass
A.ssl.keystore.location = ` + storePath(t, "client.p12") + `
A.ssl.keystore.password = store-pass`, `
      truststore_file: ` + storePath(t, "truststore.p12") + `
      truststore_type: JKS
      truststore_password: trust-pass
      keystore_file: ` + storePath(t, "client.p12") + `
      keystore_type: JKS
      keystore_password: store-pass`},
		{"inline PEM", `
A.ssl.truststore.type = PEM
A.ssl.truststore.certificates = ` + inline(ca) + `
A.ssl.keystore.type = PEM
A.ssl.keystore.certificate.chain = ` + inline(chain) + `
A.ssl.keystore.key = ` + inline(key) + `
A.ssl.key.password = key-pass`, `
      ca_pem: |
` + indent(string(ca), 8) + `
      cert_pem: |
` + indent(string(chain), 8) + `
      key_pem: |
` + indent(string(key), 8) + `
      key_password: key-pass`},
		{"PEM and JKS", `
A.ssl.truststore.location = ` + storePath(t, "ca.pem") + `
A.ssl.truststore.type = PEM
A.ssl.keystore.location = ` + storePath(t, "client.jks") + `
A.ssl.keystore.password = store-pass
A.ssl.key.password = key-pass`, `
      ca_file: ` + storePath(t, "ca.pem") + `
      keystore_file: ` + storePath(t, "client.jks") + `
      keystore_type: JKS
      keystore_password: store-pass
      key_password: key-pass`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := fmt.Sprintf("clusters = A, B\nA.bootstrap.servers = %s\nA.security.protocol = SSL\nB.bootstrap.servers = b:9092\n%s\n", addr, tc.props)
			yaml := fmt.Sprintf("clusters:\n  A:\n    bootstrap_servers: %q\n    security_protocol: SSL\n    tls:%s\n  B: {bootstrap_servers: b:9092}\nflows: [{source: A, target: B}]\n", addr, tc.yaml)
			if tc.name != "PKCS12 files typed JKS" && tc.name != "inline PEM" { // same stores, other text
				sameClusters(t, yaml, props)
			}
			for _, src := range []struct {
				format Format
				text   string
			}{{FormatProperties, props}, {FormatYAML, yaml}} {
				f, err := Parse([]byte(src.text), src.format)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Validate(); err != nil {
					t.Fatalf("Validate(%v): %v", src.format, err)
				}
				if _, err := dialCluster(t, f.Clusters["A"]); err != nil {
					t.Fatalf("%v: ping over mutual TLS: %v", src.format, err)
				}
			}
		})
	}
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

// TestStores_Errors checks that a store that cannot be read is an error
// naming the field and the cause, never a password.
func TestStores_Errors(t *testing.T) {
	notAStore := filepath.Join(t.TempDir(), "junk.jks")
	if err := os.WriteFile(notAStore, []byte("not a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	jceks := filepath.Join(t.TempDir(), "old.jceks")
	if err := os.WriteFile(jceks, []byte{0xCE, 0xCE, 0xCE, 0xCE, 0, 0, 0, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "Wr0ng-Pa55word"
	for _, tc := range []struct {
		name string
		tls  TLS
		want string
	}{
		{"wrong JKS trust store password", TLS{TruststoreFile: storePath(t, "truststore.jks"), TruststorePassword: secret},
			"clusters.A.tls.truststore_file: load JKS trust store " + storePath(t, "truststore.jks") + ": got invalid digest (wrong password?)"},
		{"JKS trust store without password", TLS{TruststoreFile: storePath(t, "truststore.jks")},
			"clusters.A.tls.truststore_file: a JKS trust store needs its password"},
		{"wrong PKCS12 trust store password", TLS{TruststoreFile: storePath(t, "truststore.p12"), TruststorePassword: secret},
			"clusters.A.tls.truststore_file: load PKCS12 trust store"},
		{"wrong JKS key password", TLS{KeystoreFile: storePath(t, "client.jks"), KeystorePassword: "store-pass", KeyPassword: secret},
			"clusters.A.tls.keystore_file: decrypt key mm2go of " + storePath(t, "client.jks")},
		{"JKS key password defaults to the store password", TLS{KeystoreFile: storePath(t, "client.jks"), KeystorePassword: "store-pass"},
			"(wrong ssl.key.password?)"},
		{"wrong PKCS12 key store password", TLS{KeystoreFile: storePath(t, "client.p12"), KeystorePassword: secret},
			"clusters.A.tls.keystore_file: load PKCS12 key store"},
		{"not a store", TLS{TruststoreFile: notAStore, TruststorePassword: secret}, "is neither a JKS nor a PKCS12 store"},
		{"PEM typed as a store", TLS{TruststoreFile: storePath(t, "ca.pem"), TruststorePassword: secret}, "is a PEM file; set its type to PEM"},
		{"JCEKS", TLS{TruststoreFile: jceks, TruststorePassword: secret}, "is a JCEKS store, which mm2go cannot read"},
		{"missing file", TLS{KeystoreFile: "/nonexistent/ks.p12", KeystorePassword: secret}, "read store: open /nonexistent/ks.p12"},
		{"inline key wrong password", TLS{CertPEM: mustRead(t, "client-chain.pem"), KeyPEM: mustRead(t, "client-key.pem"), KeyPassword: secret},
			"clusters.A.tls.key_pem: decrypt private key: wrong password or corrupt key"},
		{"inline key not PEM", TLS{CertPEM: mustRead(t, "client-chain.pem"), KeyPEM: secret},
			"clusters.A.tls.key_pem: private key: want one PEM block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt := tc.tls
			c := &Cluster{Alias: "A", BootstrapServers: []string{"a:9093"}, SecurityProtocol: "SSL", TLS: &tt}
			_, err := c.ClientOpts()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ClientOpts() = %v\nwant an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(storePath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
