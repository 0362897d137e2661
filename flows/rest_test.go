package flows

import (
	"strings"
	"testing"
)

// TestREST_Keys: MM2's REST keys are honoured where they map (the
// listener, the advertised address) and refused by name otherwise.
func TestREST_Keys(t *testing.T) {
	const base = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
	for _, tc := range []struct {
		name, props string
		want        REST
		problem     string // a problem Check reports; "" none
	}{
		{name: "none", props: ""},
		{name: "listener", props: "listeners = http://0.0.0.0:8083", want: REST{Addr: "0.0.0.0:8083"}},
		{name: "every address", props: "listeners = HTTP://:9000", want: REST{Addr: ":9000"}},
		{name: "https", props: "listeners = https://mm2-0:8443", want: REST{Addr: "mm2-0:8443", HTTPS: true}},
		{name: "internal rest on", props: "dedicated.mode.enable.internal.rest = true", want: REST{Addr: ":8083"}},
		{name: "internal rest with listener", props: "dedicated.mode.enable.internal.rest = true\nlisteners = http://127.0.0.1:18083", want: REST{Addr: "127.0.0.1:18083"}},
		{name: "internal rest off", props: "dedicated.mode.enable.internal.rest = false"},
		{name: "advertised", props: "listeners = http://:8083\nrest.advertised.host.name = mm2-0.mm2\nrest.advertised.port = 18083\nrest.advertised.listener = HTTPS",
			want: REST{Addr: ":8083", AdvertisedHost: "mm2-0.mm2", AdvertisedPort: 18083, AdvertisedScheme: "https"}},
		{name: "empty CORS", props: "access.control.allow.origin =\nrest.extension.classes =\nadmin.listeners ="},

		{name: "two listeners", props: "listeners = http://:8083,https://:8443", problem: "listeners: \"http://:8083,https://:8443\" lists 2 listeners; mm2go serves one"},
		{name: "not http", props: "listeners = ftp://:21", problem: "the protocol must be http or https"},
		{name: "no port", props: "listeners = http://host", problem: "has no port"},
		{name: "bad port", props: "rest.advertised.port = 70000", problem: "rest.advertised.port: 70000 is too large"},
		{name: "bad listener kind", props: "rest.advertised.listener = ftp", problem: "expected one of http, https"},
		{name: "per flow", props: "A->B.listeners = http://:8083", problem: "A->B.listeners: a worker key: set it once, at the top level"},
		{name: "key store", props: "listeners.https.ssl.keystore.location = /k.jks", problem: "listeners.https.ssl.keystore.location: the REST listener's TLS is set on the command line"},
		{name: "extension", props: "rest.extension.classes = com.example.Auth", problem: "rest.extension.classes: REST extensions are Java plugins"},
		{name: "CORS", props: "access.control.allow.origin = *", problem: "access.control.allow.origin: mm2go's REST API sends no CORS headers"},
		{name: "headers", props: "response.http.headers.config = add X-A: b", problem: "response.http.headers.config: mm2go's REST API does not add"},
		{name: "admin", props: "admin.listeners = http://:9999", problem: "admin.listeners: mm2go serves no admin REST API"},
		{name: "old port", props: "rest.port = 8083", problem: "rest.port: removed in Kafka 3.0"},
		{name: "unknown rest key", props: "rest.whatever = 1", problem: "rest.whatever: not a Connect REST key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(base+tc.props+"\n"), FormatProperties)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Check()
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("Check = %v, want a problem %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range f.Warnings {
				if strings.Contains(w, "listener") || strings.Contains(w, "rest") {
					t.Errorf("warning %q: REST keys are honoured or refused, not ignored", w)
				}
			}
			got, err := f.REST()
			if err != nil || got != tc.want {
				t.Errorf("REST() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestREST_KeysYAML: the same keys in a YAML file's settings.
func TestREST_KeysYAML(t *testing.T) {
	f, err := Parse([]byte(`
clusters:
  a: {bootstrap_servers: ["a:9092"]}
  b: {bootstrap_servers: ["b:9092"]}
settings:
  listeners: http://127.0.0.1:8083
  rest.advertised.host.name: worker-0
flows: [{source: a, target: b}]
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
	if got, err := f.REST(); err != nil || got != (REST{Addr: "127.0.0.1:8083", AdvertisedHost: "worker-0"}) {
		t.Errorf("REST() = %+v, %v", got, err)
	}
}
