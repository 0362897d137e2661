package flows

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// No KDC runs in these tests: they cover the configuration, the keytab
// and krb5.conf checks, and the error when the KDC cannot be reached. A
// full GSSAPI exchange (AS-REQ, TGS-REQ, AP-REQ) needs a real KDC.

// writeKeytab writes a keytab with an AES key for principal@realm.
func writeKeytab(t *testing.T, principal, realm string) string {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(principal, realm, "keytab-password", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mm2go.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKrb5Conf writes a krb5.conf whose realm's KDC is kdc.
func writeKrb5Conf(t *testing.T, realm, kdc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "krb5.conf")
	conf := fmt.Sprintf(`[libdefaults]
  default_realm = %s
  dns_lookup_kdc = false
  dns_lookup_realm = false
  udp_preference_limit = 1

[realms]
  %s = {
    kdc = %s
  }
`, realm, realm, kdc)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestKerberos_Config checks GSSAPI written as Java's Krb5LoginModule and
// in YAML, and that connecting with no KDC reachable fails with an error
// naming the principal, the service and the KDC.
func TestKerberos_Config(t *testing.T) {
	keytabPath := writeKeytab(t, "mm2go/replicator", "EXAMPLE.COM")
	kdc := closedAddr(t)
	conf := writeKrb5Conf(t, "EXAMPLE.COM", kdc)
	b := newSASLBroker(t, "GSSAPI", func([]byte) ([]byte, string, time.Duration) { return nil, "", 0 })
	props := fmt.Sprintf(`clusters = A, B
java.security.krb5.conf = %s
A.bootstrap.servers = %s
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = GSSAPI
A.sasl.kerberos.service.name = kafka
A.sasl.jaas.config = com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true \
    keyTab="%s" principal="mm2go/replicator@EXAMPLE.COM";
B.bootstrap.servers = b:9092
`, conf, b.addr(), keytabPath)
	yaml := fmt.Sprintf(`
clusters:
  A:
    bootstrap_servers: "%s"
    security_protocol: SASL_PLAINTEXT
    sasl:
      mechanism: GSSAPI
      kerberos: {service_name: kafka, principal: mm2go/replicator@EXAMPLE.COM, keytab_file: "%s", config_file: "%s"}
  B: {bootstrap_servers: "b:9092"}
flows: [{source: A, target: B}]
`, b.addr(), keytabPath, conf)
	sameClusters(t, yaml, props)
	_, c := clusterFromProperties(t, props)
	_, err := dialCluster(t, c)
	if err == nil {
		t.Fatal("ping with no KDC: no error")
	}
	for _, want := range []string{"kerberos login as mm2go/replicator@EXAMPLE.COM for kafka/127.0.0.1", "KDCs from " + conf, kdc} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "keytab-password") {
		t.Errorf("error %q holds the key's password", err)
	}
	select {
	case a := <-b.auths:
		t.Errorf("the broker got a SASLAuthenticate (%d bytes) though no ticket could be had", len(a))
	default:
	}

	// krb5.conf from $KRB5_CONFIG, and the realm from its default_realm.
	t.Setenv("KRB5_CONFIG", conf)
	c.SASL.Kerberos.ConfigFile = ""
	c.SASL.Kerberos.Principal = "mm2go/replicator"
	if _, err := c.ClientOpts(); err != nil {
		t.Errorf("ClientOpts with KRB5_CONFIG and the default realm: %v", err)
	}
}

// TestKerberos_Errors checks the errors of ClientOpts (and so of mm2go
// validate) for GSSAPI settings that cannot work.
func TestKerberos_Errors(t *testing.T) {
	keytabPath := writeKeytab(t, "mm2go", "EXAMPLE.COM")
	conf := writeKrb5Conf(t, "EXAMPLE.COM", "127.0.0.1:88")
	noRealm := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(noRealm, []byte("[libdefaults]\n  dns_lookup_kdc = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(t.TempDir(), "junk.keytab")
	if err := os.WriteFile(junk, []byte("not a keytab"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		k    Kerberos
		want string
	}{
		{"missing krb5.conf", Kerberos{ConfigFile: "/nonexistent/krb5.conf", KeytabFile: keytabPath, Principal: "mm2go"},
			"clusters.A.sasl.kerberos.config_file: load krb5.conf /nonexistent/krb5.conf"},
		{"missing keytab", Kerberos{ConfigFile: conf, KeytabFile: "/nonexistent/mm2go.keytab", Principal: "mm2go"},
			"clusters.A.sasl.kerberos.keytab_file: load keytab: open /nonexistent/mm2go.keytab"},
		{"not a keytab", Kerberos{ConfigFile: conf, KeytabFile: junk, Principal: "mm2go"},
			"clusters.A.sasl.kerberos.keytab_file: load keytab"},
		{"principal not in keytab", Kerberos{ConfigFile: conf, KeytabFile: keytabPath, Principal: "other@EXAMPLE.COM"},
			"clusters.A.sasl.kerberos.keytab_file: keytab " + keytabPath + " has no key for other@EXAMPLE.COM"},
		{"no realm", Kerberos{ConfigFile: noRealm, KeytabFile: keytabPath, Principal: "mm2go"},
			`clusters.A.sasl.kerberos.principal: "mm2go" has no realm and ` + noRealm + " has no default_realm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.k
			k.ServiceName = "kafka"
			c := &Cluster{Alias: "A", BootstrapServers: []string{"a:9092"}, SecurityProtocol: "SASL_PLAINTEXT",
				SASL: &SASL{Mechanism: "GSSAPI", Kerberos: &k}}
			if _, err := c.ClientOpts(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ClientOpts() = %v\nwant an error containing %q", err, tc.want)
			}
		})
	}

	// Kafka refuses two different service names.
	f, err := Parse([]byte(`clusters = A, B
A.bootstrap.servers = a:9092
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = GSSAPI
A.sasl.kerberos.service.name = kafka
A.sasl.jaas.config = com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="k" principal="p" serviceName="other";
B.bootstrap.servers = b:9092
`), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), `A.sasl.kerberos.service.name: conflicts with serviceName="other" in sasl.jaas.config`) {
		t.Errorf("Validate with two service names = %v", err)
	}
}
