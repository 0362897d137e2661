package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate_NeverShowsSecrets runs validate, as text and as JSON, and
// the worker on a file whose clusters hold secrets and errors next to
// them: no password, client secret, AWS secret or private key may appear
// in what they print.
func TestValidate_NeverShowsSecrets(t *testing.T) {
	secrets := []string{"Secret-PLAIN-1", "Secret-KS-2", "Secret-TS-3", "Secret-KEY-4", "Secret-OAUTH-5",
		"Secret-AWS-6", "Secret-AWS-7", "Secret-SCRAM-8", "Secret-PEMKEY-9", "Secret-YAML-10"}
	dir := t.TempDir()
	props := `clusters = A, B, C, D, E
A.bootstrap.servers = a:9093
A.security.protocol = SASL_SSL
A.sasl.mechanism = PLAIN
A.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="Secret-PLAIN-1";
A.ssl.keystore.location = ` + filepath.Join(dir, "missing.jks") + `
A.ssl.keystore.password = Secret-KS-2
A.ssl.truststore.location = ` + filepath.Join(dir, "missing-trust.jks") + `
A.ssl.truststore.password = Secret-TS-3
A.ssl.key.password = Secret-KEY-4
B.bootstrap.servers = b:9093
B.security.protocol = SASL_SSL
B.sasl.mechanism = OAUTHBEARER
B.sasl.login.callback.handler.class = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler
B.sasl.oauthbearer.token.endpoint.url = ftp://idp.example.com/token
B.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientSecret="Secret-OAUTH-5";
C.bootstrap.servers = c:9098
C.security.protocol = SASL_SSL
C.sasl.mechanism = AWS_MSK_IAM
C.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required awsRoleArn="role/x" \
    awsRoleSecretAccessKey="Secret-AWS-6" awsRoleSessionToken="Secret-AWS-7";
D.bootstrap.servers = d:9093
D.security.protocol = SASL_PLAINTEXT
D.sasl.mechanism = SCRAM-SHA-512
D.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required username="u" "Secret-SCRAM-8";
E.bootstrap.servers = e:9093
E.security.protocol = SSL
E.ssl.keystore.type = PEM
E.ssl.keystore.certificate.chain = -----BEGIN CERTIFICATE----- MIIB -----END CERTIFICATE-----
E.ssl.keystore.key = Secret-PEMKEY-9
A->B.enabled = true
`
	yaml := `
clusters:
  A:
    bootstrap_servers: a:9093
    sasl: {mechanism: SCRAM-SHA-256, username: u, password: Secret-YAML-10, oauth: {client_secret: Secret-OAUTH-5}}
    tls: {keystore_file: ` + filepath.Join(dir, "missing.p12") + `, keystore_password: Secret-KS-2, key_password: Secret-KEY-4}
  B: {bootstrap_servers: b:9092}
flows: [{source: A, target: B}]
`
	for name, text := range map[string]string{"mm2.properties": props, "flows.yaml": yaml} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"validate", "--config", path},
			{"validate", "--config", path, "--json"},
			{"worker", "--config", path},
		} {
			code, out, errOut := runCmd(t, context.Background(), args...)
			if code != exitUsage {
				t.Errorf("%v: exit %d, want %d (the file has errors); output:\n%s%s", args, code, exitUsage, out, errOut)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(errOut, s) {
					t.Errorf("%v shows secret %s:\n%s%s", args, s, out, errOut)
				}
			}
		}
	}
	// The errors are there, by path, without their secrets.
	_, out, _ := runCmd(t, context.Background(), "validate", "--config", filepath.Join(dir, "mm2.properties"))
	for _, want := range []string{
		"D.sasl.jaas.config: parse sasl.jaas.config: expected an option name, got a quoted value",
		"B.sasl.oauthbearer.token.endpoint.url: ftp://idp.example.com/token is not an http(s):// or file: URL",
		`C.sasl.jaas.config: "role/x" is not a role ARN`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output does not contain %q:\n%s", want, out)
		}
	}
}
