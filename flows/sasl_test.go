package flows

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslBroker is a kfake cluster whose SASL handshakes the test answers:
// kfake itself knows PLAIN and SCRAM only. Each SASLAuthenticate request
// goes to answer, which returns the server's bytes, or an error message
// to fail the authentication, and the session lifetime (KIP-368).
type saslBroker struct {
	c     *kfake.Cluster
	auths chan []byte // the client's bytes of every SASLAuthenticate
}

type saslAnswer func(auth []byte) (server []byte, errMsg string, lifetime time.Duration)

func newSASLBroker(t *testing.T, mech string, answer saslAnswer) *saslBroker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	b := &saslBroker{c: c, auths: make(chan []byte, 64)}
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = []string{mech}
		if r.Mechanism != mech {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		select {
		case b.auths <- append([]byte(nil), r.SASLAuthBytes...):
		default:
		}
		out, msg, life := answer(r.SASLAuthBytes)
		if msg != "" {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			resp.ErrorMessage = &msg
			return resp, nil, true
		}
		resp.SASLAuthBytes = out
		resp.SessionLifetimeMillis = life.Milliseconds()
		return resp, nil, true
	})
	return b
}

// addr returns the broker's address.
func (b *saslBroker) addr() string { return b.c.ListenAddrs()[0] }

// nextAuth waits for the next SASLAuthenticate bytes.
func (b *saslBroker) nextAuth(t *testing.T) []byte {
	t.Helper()
	select {
	case a := <-b.auths:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no SASLAuthenticate request within 10s")
		return nil
	}
}

// clusterFromProperties loads mm2.properties text, validates it and
// returns cluster A.
func clusterFromProperties(t *testing.T, src string) (*File, *Cluster) {
	t.Helper()
	f, err := Parse([]byte(src), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return f, f.Clusters["A"]
}

// sameClusters checks that a YAML and a properties file load into the
// same cluster A.
func sameClusters(t *testing.T, yamlSrc, propsSrc string) {
	t.Helper()
	fy, err := Parse([]byte(yamlSrc), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	xy, err := fy.Expand()
	if err != nil {
		t.Fatalf("Expand(yaml): %v", err)
	}
	fp, err := Parse([]byte(propsSrc), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	xp, err := fp.Expand()
	if err != nil {
		t.Fatalf("Expand(properties): %v", err)
	}
	gy, gp := xy.Clusters["A"], xp.Clusters["A"]
	if !reflect.DeepEqual(gy, gp) {
		t.Errorf("YAML and properties differ:\nyaml:       %s\nproperties: %s", describeCluster(gy), describeCluster(gp))
	}
	if len(fp.Warnings) > 0 {
		t.Errorf("properties warnings: %q", fp.Warnings)
	}
}

// describeCluster describes a cluster for test messages, secrets redacted.
func describeCluster(c *Cluster) string {
	return strings.Join([]string{c.Alias, strings.Join(c.BootstrapServers, ","), c.SecurityProtocol, c.TLS.String(),
		c.SASL.String(), strings.TrimPrefix(strings.TrimSuffix(strings.ReplaceAll(fmtMap(c.Properties), " ", ","), "]"), "map[")}, " ")
}

func fmtMap(m map[string]string) string {
	var b strings.Builder
	b.WriteString("map[")
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + ":" + m[k])
	}
	b.WriteString("]")
	return b.String()
}

// dialCluster builds a client from c's options and pings the broker.
func dialCluster(t *testing.T, c *Cluster) (*kgo.Client, error) {
	t.Helper()
	opts, err := c.ClientOpts()
	if err != nil {
		t.Fatalf("ClientOpts: %v", err)
	}
	cl, err := kgo.NewClient(append(opts.Common, kgo.RetryTimeout(time.Second), kgo.RequestRetries(0))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return cl, cl.Ping(ctx)
}

// TestSASL_RefusedByName checks that a mechanism, login module or
// callback handler mm2go does not implement is an error naming it.
func TestSASL_RefusedByName(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"mechanism", "A.sasl.mechanism = NTLM\nA.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";",
			"A.sasl.jaas.config: login module PlainLoginModule does not match sasl.mechanism NTLM"},
		{"login module", "A.sasl.mechanism = PLAIN\nA.sasl.jaas.config = com.example.LdapLoginModule required user=\"u\";",
			"A.sasl.jaas.config: login module com.example.LdapLoginModule is not supported"},
		{"client callback handler", "A.sasl.mechanism = AWS_MSK_IAM\nA.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required;\nA.sasl.client.callback.handler.class = com.example.MyHandler",
			"A.sasl.client.callback.handler.class: callback handler com.example.MyHandler is not supported with IAMLoginModule and AWS_MSK_IAM; use software.amazon.msk.auth.iam.IAMClientCallbackHandler"},
		{"login callback handler", "A.sasl.mechanism = OAUTHBEARER\nA.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\nA.sasl.login.callback.handler.class = com.example.VaultTokenHandler",
			"A.sasl.login.callback.handler.class: callback handler com.example.VaultTokenHandler is not supported with OAuthBearerLoginModule and OAUTHBEARER"},
		{"login callback handler with PLAIN", "A.sasl.mechanism = PLAIN\nA.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";\nA.sasl.login.callback.handler.class = com.example.X",
			"A.sasl.login.callback.handler.class: callback handler com.example.X is not supported with PlainLoginModule and PLAIN; use no sasl.login.callback.handler.class"},
		{"login class", "A.sasl.mechanism = PLAIN\nA.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";\nA.sasl.login.class = com.example.MyLogin",
			"A.sasl.login.class: login class com.example.MyLogin is not supported"},
		{"ticket cache", "A.sasl.mechanism = GSSAPI\nA.sasl.kerberos.service.name = kafka\nA.sasl.jaas.config = com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;",
			"A.sasl.jaas.config: useTicketCache=true is not supported"},
		{"no jaas", "A.sasl.mechanism = SCRAM-SHA-256",
			"A.sasl.jaas.config: required: mm2go takes the login module and credentials from sasl.jaas.config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "clusters = A, B\nA.bootstrap.servers = a:9092\nA.security.protocol = SASL_SSL\nB.bootstrap.servers = b:9092\n" + tc.src + "\n"
			f, err := Parse([]byte(src), FormatProperties)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

// TestSASL_YAMLChecks checks the YAML form's rules for the new mechanisms.
func TestSASL_YAMLChecks(t *testing.T) {
	src := `
clusters:
  a: {bootstrap_servers: a:9092, sasl: {mechanism: AWS_MSK_IAM, username: u, aws: {role_session_name: s, role_arn: "role/x"}}}
  b: {bootstrap_servers: b:9092, sasl: {mechanism: OAUTHBEARER}}
  c: {bootstrap_servers: c:9092, sasl: {mechanism: OAUTHBEARER, oauth: {token_endpoint_url: "ftp://idp/token"}}}
  d: {bootstrap_servers: d:9092, sasl: {mechanism: OAUTHBEARER, oauth: {token_endpoint_url: "https://idp/token", extensions: {auth: x, "bad-key": y}}}}
  e: {bootstrap_servers: e:9092, sasl: {mechanism: GSSAPI, kerberos: {principal: mm2go@EXAMPLE.COM}}}
  f: {bootstrap_servers: f:9092, sasl: {mechanism: OAUTHBEARER, aws: {}, oauth: {token_endpoint_url: "https://idp/token"}}}
  g: {bootstrap_servers: g:9092, sasl: {mechanism: PLAIN, username: u, password: p, kerberos: {service_name: kafka}}}
  h: {bootstrap_servers: h:9092, sasl: {mechanism: OAUTHBEARER, oauth: {unsecured: {unsecuredLoginStringClaim_sub: alice, unsecuredLoginNumberClaim_exp: "1"}}}}
  i: {bootstrap_servers: i:9092, tls: {keystore_file: ks.p12, cert_file: c.pem, key_file: k.pem, truststore_type: JCEKS}}
flows: [{source: a, target: b}]
`
	f, err := Parse([]byte(src), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Validate()
	for _, want := range []string{
		"clusters.a.sasl.username: set, but mechanism AWS_MSK_IAM does not use it",
		`clusters.a.sasl.aws.role_arn: "role/x" is not a role ARN`,
		"clusters.b.sasl.oauth: required by OAUTHBEARER",
		"clusters.c.sasl.oauth.token_endpoint_url: ftp://idp/token is not an http(s):// or file: URL",
		"clusters.d.sasl.oauth.client_id: required with a token endpoint",
		"clusters.d.sasl.oauth.client_secret: required with a token endpoint",
		`clusters.d.sasl.oauth.extensions: extension name "auth" is reserved`,
		`clusters.d.sasl.oauth.extensions: extension name "bad-key" must be letters only`,
		"clusters.e.sasl.kerberos.service_name: required",
		"clusters.e.sasl.kerberos.keytab_file: required",
		"clusters.f.sasl.oauth: set together with sasl.aws",
		"clusters.g.sasl.kerberos: set, but mechanism PLAIN does not use it",
		`clusters.h.sasl.oauth.unsecured: unsecuredLoginNumberClaim_exp: the "exp" claim is set by mm2go`,
		"clusters.i.tls: more than one client certificate",
		"clusters.i.tls.truststore_type: store type JCEKS is not supported",
		"clusters.i.tls.keystore_password: required by tls.keystore_file",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() does not report %q; got:\n%v", want, err)
		}
	}
}
