package flows

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// makeJWT returns an unsigned-looking JWT with the claims; the broker, not
// the client, checks signatures.
func makeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("signature"))
}

// tokenEndpoint is a fake OAuth token endpoint on loopback that checks
// the client credentials request as Kafka's HttpAccessTokenRetriever
// sends it and issues JWTs that live for lifetime.
type tokenEndpoint struct {
	srv      *httptest.Server
	requests chan tokenRequest // one per request, in order

	mu     sync.Mutex
	issued []string
	fail   int // answer this many requests with 503 first
}

type tokenRequest struct {
	n       int
	at      time.Time
	problem string // what was wrong with the request, or ""
}

func newTokenEndpoint(t *testing.T, id, secret, scope string, lifetime time.Duration) *tokenEndpoint {
	t.Helper()
	te := &tokenEndpoint{requests: make(chan tokenRequest, 64)}
	te.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.mu.Lock()
		defer te.mu.Unlock()
		var problems []string
		if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" {
			problems = append(problems, fmt.Sprintf("%s %s", r.Method, r.URL.Path))
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			problems = append(problems, "content type "+ct)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != id || p != secret {
			problems = append(problems, "wrong client credentials in the Authorization header")
		}
		if err := r.ParseForm(); err != nil {
			problems = append(problems, err.Error())
		}
		if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
			problems = append(problems, "grant_type "+g)
		}
		if s := r.PostForm.Get("scope"); s != scope {
			problems = append(problems, fmt.Sprintf("scope %q, want %q", s, scope))
		}
		n := len(te.issued) + 1
		if len(problems) > 0 {
			te.requests <- tokenRequest{n: n, at: time.Now(), problem: strings.Join(problems, "; ")}
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		if te.fail > 0 {
			te.fail--
			te.requests <- tokenRequest{n: n, at: time.Now(), problem: "503 on purpose"}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		now := time.Now()
		tok := makeJWT(t, map[string]any{
			"sub": "mm2go", "scope": scope, "n": n,
			"iat": float64(now.UnixMilli()) / 1000,
			"exp": float64(now.Add(lifetime).UnixMilli()) / 1000,
		})
		te.issued = append(te.issued, tok)
		te.requests <- tokenRequest{n: n, at: now}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(lifetime.Seconds())})
	}))
	t.Cleanup(te.srv.Close)
	return te
}

func (te *tokenEndpoint) url() string { return te.srv.URL + "/oauth2/token" }

func (te *tokenEndpoint) token(n int) string {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.issued[n-1]
}

// oauthBearerToken parses the client's first OAUTHBEARER message (RFC
// 7628): "n,,\x01auth=Bearer <token>\x01k=v\x01...\x01\x01".
func oauthBearerToken(t *testing.T, msg []byte) (token string, ext map[string]string) {
	t.Helper()
	gs2, rest, ok := bytes.Cut(msg, []byte{1})
	if !ok || string(gs2) != "n,," || !bytes.HasSuffix(rest, []byte{1, 1}) {
		t.Fatalf("malformed OAUTHBEARER client message %q", msg)
	}
	ext = map[string]string{}
	for _, kv := range strings.Split(string(rest[:len(rest)-2]), "\x01") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "auth" {
			token, ok = strings.CutPrefix(v, "Bearer ")
			if !ok {
				t.Fatalf("auth %q is not a Bearer token", v)
			}
			continue
		}
		ext[k] = v
	}
	return token, ext
}

// expiryOf returns the "exp" claim of a JWT.
func expiryOf(t *testing.T, tok string) time.Time {
	t.Helper()
	c, err := parseJWT(tok, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return c.exp
}

const oauthProperties = `clusters = A, B
A.bootstrap.servers = %s
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = OAUTHBEARER
A.sasl.login.callback.handler.class = org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler
A.sasl.oauthbearer.token.endpoint.url = %s
A.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
    clientId="mm2go" clientSecret="cl1ent-s3cret" scope="kafka:read kafka:write" extension_traceId="t42";
A.sasl.login.refresh.window.factor = 0.5
A.sasl.login.refresh.window.jitter = 0
A.sasl.login.refresh.min.period.seconds = 0
A.sasl.login.refresh.buffer.seconds = 0
B.bootstrap.servers = b:9092
`

const oauthYAML = `
clusters:
  A:
    bootstrap_servers: ["%s"]
    security_protocol: SASL_PLAINTEXT
    sasl:
      mechanism: OAUTHBEARER
      oauth:
        token_endpoint_url: %s
        client_id: mm2go
        client_secret: cl1ent-s3cret
        scope: "kafka:read kafka:write"
        extensions: {traceId: t42}
    properties:
      sasl.login.refresh.window.factor: 0.5
      sasl.login.refresh.window.jitter: 0
      sasl.login.refresh.min.period.seconds: 0
      sasl.login.refresh.buffer.seconds: 0
  B: {bootstrap_servers: b:9092}
flows: [{source: A, target: B}]
`

// TestOAuth_ClientCredentials checks OAUTHBEARER with Kafka's
// OAuthBearerLoginCallbackHandler against a fake token endpoint and a
// broker that checks the token: the token request's grant, credentials
// and scope, the token and extensions in the client's first message, and
// a new token fetched before the first expires when the broker's session
// ends (KIP-368 re-authentication).
func TestOAuth_ClientCredentials(t *testing.T) {
	const lifetime = 3 * time.Second
	te := newTokenEndpoint(t, "mm2go", "cl1ent-s3cret", "kafka:read kafka:write", lifetime)
	b := newSASLBroker(t, "OAUTHBEARER", func(auth []byte) ([]byte, string, time.Duration) {
		tok, _, _ := bytes.Cut(bytes.TrimPrefix(auth, []byte("n,,\x01auth=Bearer ")), []byte{1})
		c, err := parseJWT(string(tok), "", "")
		if err != nil {
			return nil, "bad token: " + err.Error(), 0
		}
		if time.Now().After(c.exp) {
			return nil, "token expired", 0
		}
		return nil, "", time.Until(c.exp) // the broker ends the session with the token
	})

	sameClusters(t, fmt.Sprintf(oauthYAML, b.addr(), te.url()), fmt.Sprintf(oauthProperties, b.addr(), te.url()))
	_, c := clusterFromProperties(t, fmt.Sprintf(oauthProperties, b.addr(), te.url()))
	cl, err := dialCluster(t, c)
	if err != nil {
		t.Fatalf("ping: %v", err)
	}

	first := <-te.requests
	if first.problem != "" {
		t.Fatalf("token request 1: %s", first.problem)
	}
	tok, ext := oauthBearerToken(t, b.nextAuth(t))
	if tok != te.token(1) {
		t.Errorf("token sent = %q, want the one issued", tok)
	}
	if ext["traceId"] != "t42" || len(ext) != 1 {
		t.Errorf("extensions = %v, want traceId=t42", ext)
	}

	// Keep the connection busy until kgo re-authenticates, which needs a
	// new token: the first is past its refresh point (half its life).
	var second tokenRequest
	deadline := time.After(20 * time.Second)
wait:
	for {
		select {
		case second = <-te.requests:
			break wait
		case <-deadline:
			t.Fatal("no second token request within 20s")
		case <-time.After(50 * time.Millisecond):
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			cl.Ping(ctx)
			cancel()
		}
	}
	if second.problem != "" {
		t.Fatalf("token request 2: %s", second.problem)
	}
	if exp := expiryOf(t, te.token(1)); !second.at.Before(exp) {
		t.Errorf("second token fetched at %v, after the first expired at %v", second.at, exp)
	}
	for {
		a := b.nextAuth(t)
		if tok, _ := oauthBearerToken(t, a); tok == te.token(2) {
			break
		} else if tok != te.token(1) {
			t.Fatalf("re-authentication sent an unknown token")
		}
	}
}

// TestOAuth_TokenEndpointErrors checks what the token source does when
// the endpoint fails: a refused request is an error naming the endpoint
// and the OAuth error, never the secret; a 503 is retried.
func TestOAuth_TokenEndpointErrors(t *testing.T) {
	te := newTokenEndpoint(t, "mm2go", "right-secret", "", time.Hour)
	c := &Cluster{Alias: "A", BootstrapServers: []string{"127.0.0.1:1"}, SecurityProtocol: "SASL_PLAINTEXT",
		SASL: &SASL{Mechanism: "OAUTHBEARER", OAuth: &OAuth{TokenEndpointURL: te.url(), ClientID: "mm2go", ClientSecret: "wr0ng-secret"}}}
	ts, err := c.newTokenSource()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.get(t.Context())
	if err == nil {
		t.Fatal("token with wrong credentials: no error")
	}
	if !strings.Contains(err.Error(), te.url()) || !strings.Contains(err.Error(), "400 Bad Request: invalid_request") {
		t.Errorf("error %q does not name the endpoint and the OAuth error", err)
	}
	if strings.Contains(err.Error(), "wr0ng-secret") {
		t.Errorf("error %q holds the client secret", err)
	}
	if r := <-te.requests; r.n != 1 || len(te.requests) != 0 {
		t.Errorf("a 400 was retried")
	}

	// 503s are retried with backoff until the endpoint answers.
	c.SASL.OAuth.ClientSecret = "right-secret"
	c.Properties = map[string]string{"sasl.login.retry.backoff.ms": "1", "sasl.login.retry.backoff.max.ms": "10000"}
	te.mu.Lock()
	te.fail = 2
	te.mu.Unlock()
	if ts, err = c.newTokenSource(); err != nil {
		t.Fatal(err)
	}
	tok, err := ts.get(t.Context())
	if err != nil {
		t.Fatalf("token after two 503s: %v", err)
	}
	if tok != te.token(1) {
		t.Errorf("token = %q, want the one issued", tok)
	}
	// A cached token is served without a request until its refresh point.
	if again, err := ts.get(t.Context()); err != nil || again != tok {
		t.Errorf("second get = %q, %v; want the cached token", again, err)
	}
	if n := len(te.requests); n != 3 {
		t.Errorf("%d token requests, want 3 (two 503s, one success)", n)
	}
}

// TestOAuth_Tokens checks Kafka's token rules: a JWT with exp and a
// subject (its claim name configurable), and a file: endpoint.
func TestOAuth_Tokens(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name, tok, sub, want string
	}{
		{"opaque", "abc123", "", "not a JWT"},
		{"no exp", makeJWT(t, map[string]any{"sub": "x"}), "", `no numeric "exp"`},
		{"no sub", makeJWT(t, map[string]any{"exp": now.Unix() + 60}), "", `no subject claim "sub"`},
		{"other sub claim", makeJWT(t, map[string]any{"exp": now.Unix() + 60, "client_id": "x"}), "client_id", ""},
		{"bad scope", makeJWT(t, map[string]any{"exp": now.Unix() + 60, "sub": "x", "scope": 3}), "", "neither a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseJWT(tc.tok, tc.sub, "")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseJWT = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.tok) {
				t.Errorf("error %q holds the token", err)
			}
		})
	}

	path := filepath.Join(t.TempDir(), "token.jwt")
	tok := makeJWT(t, map[string]any{"exp": now.Unix() + 60, "sub": "file"})
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Alias: "A", SASL: &SASL{Mechanism: "OAUTHBEARER", OAuth: &OAuth{TokenEndpointURL: (&url.URL{Scheme: "file", Path: path}).String()}}}
	ts, err := c.newTokenSource()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ts.get(t.Context()); err != nil || got != tok {
		t.Errorf("token from file = %q, %v", got, err)
	}
}

// TestOAuth_RefreshAt checks the refresh point against Kafka's rules.
func TestOAuth_RefreshAt(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	kafka := refreshConfig{factor: 0.8, minPeriod: time.Minute, buffer: 5 * time.Minute}
	for _, tc := range []struct {
		name      string
		r         refreshConfig
		life      time.Duration
		wantAfter time.Duration
	}{
		{"80% of an hour", kafka, time.Hour, 48 * time.Minute},
		{"buffer before expiry", kafka, 20 * time.Minute, 15 * time.Minute},
		{"min period wins", kafka, 5 * time.Minute, time.Minute},
		{"never after expiry", refreshConfig{factor: 0.8, minPeriod: 15 * time.Minute}, 10 * time.Minute, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.refreshAt(t0, t0, t0.Add(tc.life)).Sub(t0); got != tc.wantAfter {
				t.Errorf("refresh after %v, want %v", got, tc.wantAfter)
			}
		})
	}
}

// TestOAuth_Unsecured checks the unsecured tokens of Kafka's default
// OAUTHBEARER login handler.
func TestOAuth_Unsecured(t *testing.T) {
	b := newSASLBroker(t, "OAUTHBEARER", func([]byte) ([]byte, string, time.Duration) { return nil, "", 0 })
	props := fmt.Sprintf(`clusters = A, B
A.bootstrap.servers = %s
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = OAUTHBEARER
A.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
  unsecuredLoginStringClaim_sub="alice" unsecuredLoginListClaim_scope="|read|write" unsecuredLoginNumberClaim_tier="2" \
  unsecuredLoginLifetimeSeconds="60" unsecuredLoginExtension_traceId="123";
B.bootstrap.servers = b:9092
`, b.addr())
	_, c := clusterFromProperties(t, props)
	if _, err := dialCluster(t, c); err != nil {
		t.Fatalf("ping: %v", err)
	}
	tok, ext := oauthBearerToken(t, b.nextAuth(t))
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[2] != "" {
		t.Fatalf("unsecured token %q is not header.payload. (no signature)", tok)
	}
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if string(header) != `{"alg":"none"}` || claims["sub"] != "alice" || claims["tier"] != 2.0 ||
		fmt.Sprint(claims["scope"]) != "[read write]" || claims["exp"].(float64)-claims["iat"].(float64) != 60 {
		t.Errorf("unsecured token header %s claims %v", header, claims)
	}
	if ext["traceId"] != "123" {
		t.Errorf("extensions = %v", ext)
	}
}
