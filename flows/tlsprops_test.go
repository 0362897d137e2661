package flows

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// newTLSListener starts a kfake broker whose TLS listener speaks only what
// cfg allows, with p's broker certificate, and returns its address.
func newTLSListener(t *testing.T, p *testPKI, cfg *tls.Config) string {
	t.Helper()
	cfg.Certificates = []tls.Certificate{p.serverCert}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// TestTLSTuning_Handshake: ssl.enabled.protocols, ssl.protocol and
// ssl.cipher.suites decide what the client offers, against kfake TLS
// listeners that speak only TLS 1.3, or only TLS 1.2 with one suite.
func TestTLSTuning_Handshake(t *testing.T) {
	p := newTestPKI(t)
	only13 := newTLSListener(t, p, &tls.Config{MinVersion: tls.VersionTLS13})
	only12 := newTLSListener(t, p, &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})
	all13 := "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256"
	for _, tc := range []struct {
		name   string
		addr   string
		props  map[string]string
		refuse string // "" means the handshake succeeds
	}{
		{"1.3 only, defaults", only13, nil, ""},
		{"1.3 only, client limited to TLSv1.2 by ssl.enabled.protocols", only13, map[string]string{"ssl.enabled.protocols": "TLSv1.2"}, "protocol version"},
		{"1.3 only, client limited to TLSv1.2 by ssl.protocol", only13, map[string]string{"ssl.protocol": "TLSv1.2"}, "protocol version"},
		{"1.3 only, ssl.protocol=TLS", only13, map[string]string{"ssl.protocol": "TLS", "ssl.enabled.protocols": "TLSv1.2, TLSv1.3"}, ""},
		{"1.3 only, no TLS 1.3 suite listed", only13, map[string]string{"ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, "protocol version"},
		{"1.3 only, every TLS 1.3 suite listed", only13, map[string]string{"ssl.cipher.suites": all13 + ",TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, ""},
		{"1.3 only, TLS 1.3 suites only", only13, map[string]string{"ssl.cipher.suites": all13}, ""},
		{"1.2 only, defaults", only12, nil, ""},
		{"1.2 only, client limited to TLSv1.3", only12, map[string]string{"ssl.enabled.protocols": "TLSv1.3"}, "protocol version"},
		{"1.2 only, TLS 1.3 suites only", only12, map[string]string{"ssl.cipher.suites": all13}, "protocol version"},
		{"1.2 only, the server's suite", only12, map[string]string{"ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, ""},
		{"1.2 only, another suite", only12, map[string]string{"ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}, "handshake failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{Alias: "c", BootstrapServers: []string{tc.addr}, SecurityProtocol: "SSL",
				TLS: &TLS{CAFile: p.caFile, ServerName: p.serverName}, Properties: tc.props}
			_, err := dialCluster(t, c)
			switch {
			case tc.refuse == "" && err != nil:
				t.Fatalf("ping: %v", err)
			case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
				t.Fatalf("ping = %v, want a handshake refused with %q", err, tc.refuse)
			}
		})
	}
}

// TestTLSTuning_Config: what each setting makes of the TLS config, and the
// message of each refusal.
func TestTLSTuning_Config(t *testing.T) {
	all13 := "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256"
	const v12, v13 = tls.VersionTLS12, tls.VersionTLS13
	for _, tc := range []struct {
		name     string
		props    map[string]string
		min, max uint16
		suites   []uint16
		err      string
	}{
		{name: "defaults", min: v12, max: v13},
		{name: "empty lists are the defaults", props: map[string]string{"ssl.enabled.protocols": " ", "ssl.cipher.suites": ""}, min: v12, max: v13},
		{name: "TLSv1.3 only", props: map[string]string{"ssl.enabled.protocols": "TLSv1.3"}, min: v13, max: v13},
		{name: "TLSv1.2 only", props: map[string]string{"ssl.enabled.protocols": "tlsv1.2"}, min: v12, max: v12},
		{name: "ssl.protocol caps", props: map[string]string{"ssl.protocol": "TLSv1.2"}, min: v12, max: v12},
		{name: "ssl.protocol TLS", props: map[string]string{"ssl.protocol": "TLS"}, min: v12, max: v13},
		{name: "suites, Java's SSL_ prefix, the renegotiation signal", props: map[string]string{
			"ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, SSL_RSA_WITH_AES_128_CBC_SHA, TLS_EMPTY_RENEGOTIATION_INFO_SCSV," + all13},
			min: v12, max: v13, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA}},
		{name: "no TLS 1.3 suite stops at 1.2", props: map[string]string{"ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
			min: v12, max: v12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{name: "TLS 1.3 suites only start at 1.3", props: map[string]string{"ssl.cipher.suites": all13}, min: v13, max: v13},
		{name: "a TLS 1.3 subset is fine when 1.3 is off", props: map[string]string{"ssl.enabled.protocols": "TLSv1.2",
			"ssl.cipher.suites": "TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
			min: v12, max: v12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},

		{name: "obsolete protocol listed", props: map[string]string{"ssl.enabled.protocols": "TLSv1.1,TLSv1.2"},
			err: "clusters.c.properties.ssl.enabled.protocols: TLSv1.1 is obsolete and insecure (RFC 8996); mm2go speaks TLSv1.2 and TLSv1.3: remove it"},
		{name: "TLSv1 listed", props: map[string]string{"ssl.enabled.protocols": "TLSv1"},
			err: "clusters.c.properties.ssl.enabled.protocols: TLSv1 is obsolete and insecure (RFC 8996)"},
		{name: "unknown protocol listed", props: map[string]string{"ssl.enabled.protocols": "TLSv1.4"},
			err: `clusters.c.properties.ssl.enabled.protocols: unknown protocol "TLSv1.4": use TLSv1.2, TLSv1.3 or both`},
		{name: "obsolete ssl.protocol", props: map[string]string{"ssl.protocol": "SSLv3"},
			err: "clusters.c.properties.ssl.protocol: SSLv3 is obsolete and insecure (RFC 8996); mm2go speaks TLSv1.2 and TLSv1.3: use TLSv1.3 (the default) or TLSv1.2"},
		{name: "unknown ssl.protocol", props: map[string]string{"ssl.protocol": "DTLSv1.2"},
			err: `clusters.c.properties.ssl.protocol: unknown protocol "DTLSv1.2": use TLSv1.3 (the default), TLSv1.2 or TLS`},
		{name: "ssl.protocol below the list", props: map[string]string{"ssl.protocol": "TLSv1.2", "ssl.enabled.protocols": "TLSv1.3"},
			err: "clusters.c.properties.ssl.protocol: TLSv1.2 is below every protocol ssl.enabled.protocols enables (from TLSv1.3): no TLS version is left"},
		{name: "unknown suite", props: map[string]string{"ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_FANCY_WITH_ROT13"},
			err: "clusters.c.properties.ssl.cipher.suites: unknown cipher suite(s) TLS_FANCY_WITH_ROT13: use IANA names; mm2go knows TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "},
		{name: "weak suites", props: map[string]string{"ssl.cipher.suites": "SSL_RSA_WITH_RC4_128_SHA,TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
			err: "clusters.c.properties.ssl.cipher.suites: TLS_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA: RC4 and 3DES suites are insecure, and Java disables them too"},
		{name: "a subset of the TLS 1.3 suites", props: map[string]string{"ssl.cipher.suites": "TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
			err: "clusters.c.properties.ssl.cipher.suites: names TLS 1.3 suite(s) TLS_AES_256_GCM_SHA384 but not TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256: " +
				"Go's crypto/tls does not let TLS 1.3 suites be chosen (it offers all of them); list all three, or none"},
		{name: "TLS 1.2 suites with TLS 1.3 only", props: map[string]string{"ssl.enabled.protocols": "TLSv1.3", "ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
			err: "clusters.c.properties.ssl.cipher.suites: names no TLS 1.3 suite, and ssl.enabled.protocols or ssl.protocol allows only TLSv1.3: no suite is left"},
		{name: "TLS 1.3 suites with TLS 1.2 only", props: map[string]string{"ssl.protocol": "TLSv1.2", "ssl.cipher.suites": all13},
			err: "clusters.c.properties.ssl.cipher.suites: names TLS 1.3 suites only, and ssl.enabled.protocols or ssl.protocol allows only TLSv1.2: no suite is left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{Alias: "c", BootstrapServers: []string{"c:9093"}, SecurityProtocol: "SSL", Properties: tc.props}
			cfg, err := c.TLSConfig()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("TLSConfig() = %v, want an error containing %q", err, tc.err)
				}
				// Validate says the same before anything is read.
				if verr := checkClientProps(c); len(verr) == 0 || !strings.Contains(fmt.Sprint(verr), tc.err) {
					t.Errorf("checkClientProps = %v, want %q", verr, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tc.min || cfg.MaxVersion != tc.max || !slices.Equal(cfg.CipherSuites, tc.suites) {
				t.Errorf("versions %s..%s, suites %v; want %s..%s, %v", tlsVersionName(cfg.MinVersion), tlsVersionName(cfg.MaxVersion),
					cfg.CipherSuites, tlsVersionName(tc.min), tlsVersionName(tc.max), tc.suites)
			}
		})
	}
}

// TestSecurityProps_WarnedOrRefused: every ssl.* and sasl.* key of Java's
// clients is honoured, refused by name, or accepted with a warning that
// says why it does not matter; an unknown one is an error.
func TestSecurityProps_WarnedOrRefused(t *testing.T) {
	const head = "clusters = A, B\nA.bootstrap.servers = a:9093\nA.security.protocol = SASL_SSL\n" +
		"A.sasl.mechanism = PLAIN\nA.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";\n" +
		"B.bootstrap.servers = b:9092\nA->B.enabled = true\n"
	for _, tc := range []struct {
		key, value string
		warn       string // the warning, after "A.<key>: ignored: "
		refuse     string // the error, after "A.<key>: "
	}{
		{key: "ssl.provider", value: "SunJSSE", warn: "the JVM security provider that implements TLS; mm2go's TLS is Go's crypto/tls, and what goes on the wire is set by ssl.enabled.protocols, ssl.protocol and ssl.cipher.suites (for FIPS 140-3, run mm2go with GODEBUG=fips140=on)"},
		{key: "ssl.secure.random.implementation", value: "SHA1PRNG", warn: "the JVM's random number generator for TLS; mm2go uses Go's crypto/rand"},
		{key: "ssl.keymanager.algorithm", value: "SunX509", warn: "the JVM factory that picks the client certificate from the key store"},
		{key: "ssl.trustmanager.algorithm", value: "PKIX", warn: "the JVM factory that checks broker certificates; mm2go checks them with Go's crypto/x509 (RFC 5280 path validation, as the default PKIX does)"},
		{key: "ssl.client.auth", value: "required", warn: "a broker setting; Java clients do not read it either"},
		{key: "sasl.kerberos.kinit.cmd", value: "/usr/bin/kinit", warn: "mm2go logs in to Kerberos with the keytab for every connection"},
		{key: "sasl.kerberos.ticket.renew.window.factor", value: "0.8", warn: "mm2go logs in to Kerberos with the keytab for every connection, so there is no long-lived ticket to renew"},
		{key: "sasl.kerberos.ticket.renew.jitter", value: "0.05", warn: "mm2go logs in to Kerberos with the keytab for every connection, so there is no long-lived ticket to renew"},
		{key: "sasl.kerberos.min.time.before.relogin", value: "60000", warn: "mm2go logs in to Kerberos with the keytab for every connection, so there is no long-lived ticket to renew"},
		{key: "sasl.oauthbearer.jwks.endpoint.url", value: "https://idp/jwks", warn: "read by brokers to validate OAuth tokens"},
		{key: "sasl.oauthbearer.expected.audience", value: "kafka", warn: "read by brokers to validate OAuth tokens"},
		{key: "sasl.oauthbearer.clock.skew.seconds", value: "30", warn: "read by brokers to validate OAuth tokens"},

		{key: "ssl.engine.factory.class", value: "com.example.VaultSslEngineFactory",
			refuse: "a Java class that builds the TLS engine; mm2go cannot load Java classes: remove it"},
		{key: "sasl.oauthbearer.jwt.validator.class", value: "com.example.Lenient", refuse: "a Java class that checks the tokens the client receives"},
		{key: "sasl.oauthbearer.jwt.retriever.class", value: "org.apache.kafka.common.security.oauthbearer.JwtBearerJwtRetriever",
			refuse: "Kafka 4.1's token retriever settings are not supported"},
		{key: "sasl.oauthbearer.client.credentials.client.id", value: "mm2go", refuse: "Kafka 4.1's token retriever settings are not supported: mm2go fetches OAuth tokens itself with the client credentials grant; set clientId, clientSecret and scope in sasl.jaas.config (YAML: sasl.oauth)"},
		{key: "sasl.oauthbearer.assertion.file", value: "/etc/assertion.jwt", refuse: "the JWT bearer grant (client assertions, Kafka 4.1) is not supported"},
		{key: "ssl.truststore.locaton", value: "/etc/ca.jks", refuse: "not a Java client TLS or SASL property (did you mean ssl.truststore.location?)"},

		// Java's default classes ask for nothing.
		{key: "ssl.engine.factory.class", value: "org.apache.kafka.common.security.ssl.DefaultSslEngineFactory"},
		{key: "sasl.oauthbearer.jwt.retriever.class", value: "org.apache.kafka.common.security.oauthbearer.DefaultJwtRetriever"},
		// Honoured.
		{key: "ssl.enabled.protocols", value: "TLSv1.3"},
		{key: "ssl.protocol", value: "TLSv1.3"},
		{key: "ssl.cipher.suites", value: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
		{key: "ssl.endpoint.identification.algorithm", value: ""},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			f, err := Parse([]byte(head+"A."+tc.key+" = "+tc.value+"\n"), FormatProperties)
			if err != nil {
				t.Fatal(err)
			}
			verr := f.Validate()
			warnings := strings.Join(f.Warnings, "\n")
			switch {
			case tc.refuse != "":
				if want := "A." + tc.key + ": " + tc.refuse; verr == nil || !strings.Contains(verr.Error(), want) {
					t.Errorf("Validate = %v, want %q", verr, want)
				}
			case verr != nil:
				t.Errorf("Validate: %v", verr)
			}
			switch {
			case tc.warn != "":
				if want := "A." + tc.key + ": ignored: " + tc.warn; !strings.Contains(warnings, want) {
					t.Errorf("warnings:\n%s\nwant %q", warnings, want)
				}
			case strings.Contains(warnings, tc.key):
				t.Errorf("a warning about %s, which is honoured or refused:\n%s", tc.key, warnings)
			}
		})
	}
}

// TestSecurityProps_NoTLS: in YAML, ssl.* properties of a cluster whose
// security protocol does not use TLS do nothing, as in Java, and say so;
// values are still checked.
func TestSecurityProps_NoTLS(t *testing.T) {
	f, err := Parse([]byte(`clusters:
  A: {bootstrap_servers: ["a:9092"], properties: {ssl.enabled.protocols: TLSv1.3}}
  B: {bootstrap_servers: ["b:9092"]}
flows: [{source: A, target: B}]
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(f.Warnings, "\n"); !strings.Contains(w, "clusters.A.properties.ssl.enabled.protocols: ignored: security protocol PLAINTEXT does not use TLS") {
		t.Errorf("warnings:\n%s", w)
	}
}

// TestSASLLoginProps_OnlyForTokenEndpoints: the sasl.login.* keys time
// fetching OAUTHBEARER tokens from a token endpoint; on a cluster that
// fetches none they do nothing, and say so.
func TestSASLLoginProps_OnlyForTokenEndpoints(t *testing.T) {
	const login = "A.sasl.login.refresh.window.factor = 0.5\nA.sasl.login.connect.timeout.ms = 5000\n"
	const want = ": ignored: it times and bounds fetching OAUTHBEARER tokens from a token endpoint (sasl.oauthbearer.token.endpoint.url), and this cluster fetches none"
	for _, tc := range []struct {
		name, src string
		warned    bool
	}{
		{"PLAIN", "A.security.protocol = SASL_SSL\nA.sasl.mechanism = PLAIN\n" +
			"A.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";\n", true},
		{"OAUTHBEARER with MSK IAM tokens", "A.security.protocol = SASL_SSL\nA.sasl.mechanism = OAUTHBEARER\n" +
			"A.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n" +
			"A.sasl.login.callback.handler.class = software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler\n" +
			"A.sasl.client.callback.handler.class = software.amazon.msk.auth.iam.IAMOAuthBearerClientCallbackHandler\n", true},
		{"OAUTHBEARER from a token endpoint", "A.security.protocol = SASL_SSL\nA.sasl.mechanism = OAUTHBEARER\n" +
			"A.sasl.login.callback.handler.class = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n" +
			"A.sasl.oauthbearer.token.endpoint.url = https://idp.test/token\n" +
			"A.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"c\" clientSecret=\"s\";\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte("clusters = A, B\nA.bootstrap.servers = a:9093\n"+tc.src+login+"B.bootstrap.servers = b:9092\n"), FormatProperties)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(f.Warnings, "\n")
			for _, key := range []string{"A.sasl.login.refresh.window.factor", "A.sasl.login.connect.timeout.ms"} {
				if got := strings.Contains(all, key+want); got != tc.warned {
					t.Errorf("warning for %s: %t, want %t; warnings:\n%s", key, got, tc.warned, all)
				}
			}
		})
	}
}
