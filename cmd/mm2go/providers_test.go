package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate_ProviderSecretsNeverShown: values config providers resolve
// never appear in what validate (text and JSON) and worker print, not even
// when such a value is the bad value an error is about.
func TestValidate_ProviderSecretsNeverShown(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets.properties")
	if err := os.WriteFile(secrets, []byte("linger = Provider-Secret-File-31\njaas = com.example.Login required password=\"Provider-Secret-Jaas-32\";\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MM2GO_TEST_PROVIDER_SECRET", "Provider-Secret-Env-33")
	props := `clusters = A, B
config.providers = file, env
config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider
config.providers.env.class = org.apache.kafka.common.config.provider.EnvVarConfigProvider
A.bootstrap.servers = a:9092
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = PLAIN
A.sasl.jaas.config = ${file:` + secrets + `:jaas}
A.producer.linger.ms = ${file:` + secrets + `:linger}
B.bootstrap.servers = b:9092
B.consumer.fetch.min.bytes = ${env:MM2GO_TEST_PROVIDER_SECRET}
A->B.enabled = true
A->B.topics = (${env:MM2GO_TEST_PROVIDER_SECRET}
`
	yaml := `config_providers:
  env: {class: EnvVarConfigProvider}
clusters:
  A: {bootstrap_servers: [a:9092], properties: {producer.linger.ms: "${env:MM2GO_TEST_PROVIDER_SECRET}"}}
  B: {bootstrap_servers: ["${env:MM2GO_TEST_PROVIDER_SECRET}"]}
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
				t.Errorf("%v: exit %d, want %d; output:\n%s%s", args, code, exitUsage, out, errOut)
			}
			if strings.Contains(out+errOut, "Provider-Secret") {
				t.Errorf("%v shows a resolved secret:\n%s%s", args, out, errOut)
			}
		}
	}
	_, out, _ := runCmd(t, context.Background(), "validate", "--config", filepath.Join(dir, "mm2.properties"))
	for _, want := range []string{"A.producer.linger.ms: expected milliseconds", "B.consumer.fetch.min.bytes: expected an integer",
		"A->B.topics: bad regex", "A.sasl.jaas.config: login module"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}
