package flows

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// providerFiles writes a secrets .properties file and a directory of
// secret files, and sets environment variables, for provider tests.
func providerFiles(t *testing.T) (file, dir string) {
	t.Helper()
	root := t.TempDir()
	file = filepath.Join(root, "secrets.properties")
	if err := os.WriteFile(file, []byte(`# secrets
jaas = org.apache.kafka.common.security.scram.ScramLoginModule required \
    username="mm2" password="File-Secret-7781";
badjaas = com.example.Login required password="Jaas-Secret-5512";
linger = Linger-Secret-9931
`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(root, "secrets")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte("Dir-Secret-4410"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MM2_TEST_PASSWORD", "Env-Secret-2207")
	t.Setenv("OTHER_TEST_PASSWORD", "Other-Secret-3306")
	return file, dir
}

// TestProviders_Resolve: references to Kafka's three config providers are
// resolved when the file is loaded, in mm2.properties and in YAML, inside
// larger values too.
func TestProviders_Resolve(t *testing.T) {
	file, dir := providerFiles(t)
	props := fmt.Sprintf(`
clusters = A, B, C
config.providers = file, dir, env
config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider
config.providers.dir.class = org.apache.kafka.common.config.provider.DirectoryConfigProvider
config.providers.dir.param.allowed.paths = %[2]s
config.providers.env.class = EnvVarConfigProvider
config.providers.env.param.allowlist.pattern = MM2_.*
A.bootstrap.servers = a:9092
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = SCRAM-SHA-512
A.sasl.jaas.config = ${file:%[1]s:jaas}
B.bootstrap.servers = b:9092
B.security.protocol = SASL_PLAINTEXT
B.sasl.mechanism = PLAIN
B.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="${env:MM2_TEST_PASSWORD}";
C.bootstrap.servers = c:9092
C.security.protocol = SASL_PLAINTEXT
C.sasl.mechanism = PLAIN
C.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="${dir:%[2]s:password}";
A->B.enabled = true
`, file, dir)
	yaml := fmt.Sprintf(`
config_providers:
  file: {class: org.apache.kafka.common.config.provider.FileConfigProvider}
  dir: {class: DirectoryConfigProvider, params: {allowed.paths: %[2]s}}
  env: {class: EnvVarConfigProvider, params: {allowlist.pattern: "MM2_.*"}}
clusters:
  A: {bootstrap_servers: [a:9092], sasl: {mechanism: PLAIN, username: u, password: "${env:MM2_TEST_PASSWORD}"}}
  B: {bootstrap_servers: [b:9092], sasl: {mechanism: PLAIN, username: u, password: "${dir:%[2]s:password}"}}
  C: {bootstrap_servers: [c:9092], properties: {client.id: "mm2-${dir:%[2]s:password}"}}
flows:
  - {source: A, target: B}
`, file, dir)
	f, err := Parse([]byte(props), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for alias, want := range map[string]string{"A": "File-Secret-7781", "B": "Env-Secret-2207", "C": "Dir-Secret-4410"} {
		if got := f.Clusters[alias].SASL; got == nil || got.Password != want {
			t.Errorf("%s: SASL %v, want the password from the provider", alias, got)
		}
	}
	f, err = Parse([]byte(yaml), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(); err != nil {
		t.Fatalf("Check YAML: %v", err)
	}
	if got := f.Clusters["A"].SASL.Password; got != "Env-Secret-2207" {
		t.Errorf("YAML A password %q", got)
	}
	if got := f.Clusters["B"].SASL.Password; got != "Dir-Secret-4410" {
		t.Errorf("YAML B password %q", got)
	}
	if got := f.Clusters["C"].Properties["client.id"]; got != "mm2-Dir-Secret-4410" {
		t.Errorf("YAML C client.id %q", got)
	}
}

// TestProviders_Refused: what mm2go cannot resolve is an error naming the
// key, never a value used as written.
func TestProviders_Refused(t *testing.T) {
	file, dir := providerFiles(t)
	src := fmt.Sprintf(`
clusters = A, B
config.providers = file, dir, env, k8s
config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider
config.providers.file.param.allowed.path = /etc
config.providers.dir.class = org.apache.kafka.common.config.provider.DirectoryConfigProvider
config.providers.dir.param.allowed.paths = %[2]s
config.providers.env.class = org.apache.kafka.common.config.provider.EnvVarConfigProvider
config.providers.env.param.allowlist.pattern = MM2_.*
config.providers.k8s.class = io.strimzi.kafka.KubernetesSecretConfigProvider
config.providers.vault.class = com.example.Vault
A.bootstrap.servers = a:9092
B.bootstrap.servers = b:9092
A.client.id = ${file:%[1]s:nokey}
B.client.id = ${env:OTHER_TEST_PASSWORD}
A.producer.linger.ms = ${vault:secret/mm2:linger}
B.producer.linger.ms = ${dir:/etc:passwd}
A.consumer.fetch.min.bytes = ${env:/x:MM2_TEST_PASSWORD}
A.request.timeout.ms = ${env:MM2_UNSET_VARIABLE}
A->B.enabled = true
`, file, dir)
	err := parseAndValidate(src, FormatProperties)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"config.providers.file.param.allowed.path: unknown parameter of FileConfigProvider: it has only allowed.paths",
		"config.providers.k8s.class: config provider class io.strimzi.kafka.KubernetesSecretConfigProvider cannot run in mm2go",
		`config.providers.vault.class: config provider "vault" is not listed in config.providers`,
		fmt.Sprintf(`A.client.id: resolve ${file:...}: no key "nokey" in %s`, file),
		"B.client.id: resolve ${env:...}: environment variable OTHER_TEST_PASSWORD does not match the provider's allowlist.pattern",
		`A.producer.linger.ms: references config provider "vault", which is not defined`,
		`B.producer.linger.ms: resolve ${dir:...}: path "/etc" is outside the provider's allowed.paths`,
		"A.consumer.fetch.min.bytes: resolve ${env:...}: EnvVarConfigProvider takes no path",
		"A.request.timeout.ms: resolve ${env:...}: environment variable MM2_UNSET_VARIABLE is not set",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no problem %q; got:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "Other-Secret-3306") {
		t.Errorf("an environment variable the allowlist hides was shown: %v", err)
	}
	err = parseAndValidate("clusters = ${env:MM2_TEST_PASSWORD}\n", FormatProperties)
	if err == nil || !strings.Contains(err.Error(), "clusters: config provider references are not resolved in clusters") {
		t.Errorf("provider in clusters: %v", err)
	}
	err = parseAndValidate("clusters:\n  a: {bootstrap_servers: [\"${file:/x:y}\"]}\nsettings: {config.providers: file}\n", FormatYAML)
	for _, w := range []string{
		`clusters.a.bootstrap_servers[0]: references config provider "file", which is not defined`,
		"settings.config.providers: config providers are set once, at the top level",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("YAML: no problem %q; got %v", w, err)
		}
	}
	err = parseAndValidate("config_providers: {x: {class: com.example.X, params: {a: 1}, extra: 2}}\nclusters: {a: {bootstrap_servers: [a:1]}}\n", FormatYAML)
	for _, w := range []string{
		"config_providers.x.class: config provider class com.example.X cannot run in mm2go",
		"config_providers.x.extra: unknown key",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("YAML providers: no problem %q; got %v", w, err)
		}
	}
}

// TestProviders_SecretsNeverShown: a value a provider resolved never
// appears in a warning or an error, not even when it is the bad value the
// error is about.
func TestProviders_SecretsNeverShown(t *testing.T) {
	file, dir := providerFiles(t)
	t.Setenv("MM2_BAD_NUMBER", "Number-Secret-6620")
	for _, tc := range []struct {
		format Format
		src    string
		want   []string
	}{
		{FormatProperties, fmt.Sprintf(`
clusters = A, B
config.providers = file, env
config.providers.file.class = FileConfigProvider
config.providers.env.class = EnvVarConfigProvider
A.bootstrap.servers = a:9092
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = PLAIN
A.sasl.jaas.config = ${file:%[1]s:badjaas}
B.bootstrap.servers = b:9092
A.producer.linger.ms = ${file:%[1]s:linger}
B.consumer.fetch.min.bytes = ${env:MM2_BAD_NUMBER}
A->B.enabled = true
A->B.replication.factor = ${env:MM2_BAD_NUMBER}
A->B.topics = (${env:MM2_BAD_NUMBER}
A->B.rest.advertised.host.name = ${env:MM2_TEST_PASSWORD}
`, file), []string{"A.producer.linger.ms: expected milliseconds", "B.consumer.fetch.min.bytes: expected an integer",
			"A->B.replication.factor: expected an integer", "A->B.topics: bad regex", "A.sasl.jaas.config: login module"}},
		{FormatYAML, fmt.Sprintf(`
config_providers:
  dir: {class: DirectoryConfigProvider}
  env: {class: EnvVarConfigProvider}
clusters:
  a: {bootstrap_servers: ["${dir:%[1]s:password}"], properties: {producer.linger.ms: "${env:MM2_BAD_NUMBER}"}}
  b: {bootstrap_servers: [b:9092]}
settings: {tasks.max: "${env:MM2_BAD_NUMBER}"}
flows: [{source: a, target: b, topics: ["${env:MM2_BAD_NUMBER}("]}]
`, dir), []string{"clusters.a.bootstrap_servers[0]: bad address", "clusters.a.properties.producer.linger.ms: expected milliseconds",
			"settings.tasks.max: expected an integer", "flows[0].topics[0]: bad regex"}},
	} {
		f, err := Parse([]byte(tc.src), tc.format)
		if err != nil {
			t.Fatal(err)
		}
		err = f.Check()
		if err == nil {
			t.Fatalf("%v: Check: no error", tc.format)
		}
		shown := err.Error() + "\n" + strings.Join(f.Warnings, "\n")
		for _, w := range tc.want {
			if !strings.Contains(shown, w) {
				t.Errorf("%v: no problem %q; got:\n%s", tc.format, w, shown)
			}
		}
		for _, secret := range []string{"File-Secret", "Jaas-Secret", "Linger-Secret", "Number-Secret", "Dir-Secret", "Env-Secret"} {
			if strings.Contains(shown, secret) {
				t.Errorf("%v: %s shown:\n%s", tc.format, secret, shown)
			}
		}
	}
}
