package flows

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// awsTestEnv points the AWS SDK at fake static credentials and away from
// the machine's AWS files and the EC2 metadata service, so tests reach
// nothing but loopback.
func awsTestEnv(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDENVTEST",
		"AWS_SECRET_ACCESS_KEY":       "env-secret-key",
		"AWS_SESSION_TOKEN":           "env-session-token",
		"AWS_REGION":                  "us-east-1",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_STS":        "",
	} {
		t.Setenv(k, v)
	}
}

// mskIAMPayload checks an AWS_MSK_IAM client message as MSK's broker
// reads it and returns its fields: the JSON of aws-msk-iam-auth's
// AuthenticationRequestParams, with a SigV4 signature of
// "GET /?Action=kafka-cluster:Connect..." for the broker host, which is
// checked against the AWS SDK's own signer.
func mskIAMPayload(t *testing.T, msg []byte, creds aws.Credentials, region string) map[string]string {
	t.Helper()
	var p map[string]string
	if err := json.Unmarshal(msg, &p); err != nil {
		t.Fatalf("AWS_MSK_IAM message is not a JSON object of strings: %v: %s", err, msg)
	}
	want := map[string]string{
		"version":              "2020_10_22",
		"host":                 "127.0.0.1",
		"action":               "kafka-cluster:Connect",
		"x-amz-algorithm":      "AWS4-HMAC-SHA256",
		"x-amz-expires":        "900",
		"x-amz-signedheaders":  "host",
		"x-amz-security-token": creds.SessionToken,
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if p["user-agent"] == "" {
		t.Error("no user-agent")
	}
	date, err := time.Parse("20060102T150405Z", p["x-amz-date"])
	if err != nil {
		t.Fatalf("x-amz-date %q: %v", p["x-amz-date"], err)
	}
	scope := fmt.Sprintf("%s/%s/%s/kafka-cluster/aws4_request", creds.AccessKeyID, date.Format("20060102"), region)
	if p["x-amz-credential"] != scope {
		t.Errorf("x-amz-credential = %q, want %q", p["x-amz-credential"], scope)
	}
	// Sign the same request with the SDK's signer.
	q := url.Values{"Action": {"kafka-cluster:Connect"}, "X-Amz-Expires": {"900"}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+p["host"]+"/?"+strings.ReplaceAll(q.Encode(), "+", "%20"), nil)
	signed, _, err := v4.NewSigner().PresignHTTP(t.Context(), creds, req,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "kafka-cluster", region, date)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed)
	if sig := u.Query().Get("X-Amz-Signature"); p["x-amz-signature"] != sig {
		t.Errorf("x-amz-signature = %q; the AWS SDK signs %q", p["x-amz-signature"], sig)
	}
	return p
}

// mskAnswer is MSK's answer to a good AWS_MSK_IAM message.
func mskAnswer(auth []byte) ([]byte, string, time.Duration) {
	var p map[string]string
	if json.Unmarshal(auth, &p) != nil || p["action"] != "kafka-cluster:Connect" {
		return nil, "bad AWS_MSK_IAM payload", 0
	}
	return []byte(`{"version":"2020_10_22","request-id":"8e1f6c7a"}`), "", 0
}

// TestMSKIAM_DefaultChain checks AWS_MSK_IAM with credentials from the
// environment, written as MSK's documentation shows it and in YAML.
func TestMSKIAM_DefaultChain(t *testing.T) {
	awsTestEnv(t)
	b := newSASLBroker(t, "AWS_MSK_IAM", mskAnswer)
	props := fmt.Sprintf(`clusters = A, B
A.bootstrap.servers = %s
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = AWS_MSK_IAM
A.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required;
A.sasl.client.callback.handler.class = software.amazon.msk.auth.iam.IAMClientCallbackHandler
B.bootstrap.servers = b:9092
`, b.addr())
	yaml := fmt.Sprintf(`
clusters:
  A: {bootstrap_servers: "%s", security_protocol: SASL_PLAINTEXT, sasl: {mechanism: AWS_MSK_IAM}}
  B: {bootstrap_servers: "b:9092"}
flows: [{source: A, target: B}]
`, b.addr())
	sameClusters(t, yaml, props)
	_, c := clusterFromProperties(t, props)
	if _, err := dialCluster(t, c); err != nil {
		t.Fatalf("ping: %v", err)
	}
	mskIAMPayload(t, b.nextAuth(t), aws.Credentials{AccessKeyID: "AKIDENVTEST", SecretAccessKey: "env-secret-key", SessionToken: "env-session-token"}, "us-east-1")
}

// fakeSTS is an STS endpoint on loopback that answers AssumeRole.
type fakeSTS struct {
	srv   *httptest.Server
	mu    sync.Mutex
	forms []url.Values
	auths []string // Authorization headers
}

func newFakeSTS(t *testing.T) *fakeSTS {
	s := &fakeSTS{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s.mu.Lock()
		s.forms = append(s.forms, r.PostForm)
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		if r.PostForm.Get("Action") != "AssumeRole" {
			http.Error(w, "unexpected action", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAROLETEST</AccessKeyId>
      <SecretAccessKey>role-secret-key</SecretAccessKey>
      <SessionToken>role-session-token</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/mm2go/%s</Arn>
      <AssumedRoleId>AROATEST:%s</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), r.PostForm.Get("RoleSessionName"), r.PostForm.Get("RoleSessionName"))
	}))
	t.Cleanup(s.srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", s.srv.URL)
	return s
}

// TestMSKIAM_AssumeRole checks awsRoleArn: the role is assumed through
// STS with the default chain's credentials (or the awsRoleAccessKeyId
// ones), with the session name, external ID and STS region given, and
// the role's credentials sign the AWS_MSK_IAM message.
func TestMSKIAM_AssumeRole(t *testing.T) {
	awsTestEnv(t)
	sts := newFakeSTS(t)
	b := newSASLBroker(t, "AWS_MSK_IAM", mskAnswer)
	props := fmt.Sprintf(`clusters = A, B
A.bootstrap.servers = %s
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = AWS_MSK_IAM
A.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required awsRoleArn="arn:aws:iam::123456789012:role/mm2go" \
    awsRoleSessionName="mm2go-replicator" awsRoleExternalId="ext-7" awsStsRegion="eu-west-1" \
    awsRoleAccessKeyId="AKIDBASE" awsRoleSecretAccessKey="base-secret-key" awsMaxRetries="1" awsMaxBackOffTimeMs="200";
A.sasl.client.callback.handler.class = software.amazon.msk.auth.iam.IAMClientCallbackHandler
B.bootstrap.servers = b:9092
`, b.addr())
	yaml := fmt.Sprintf(`
clusters:
  A:
    bootstrap_servers: "%s"
    security_protocol: SASL_PLAINTEXT
    sasl:
      mechanism: AWS_MSK_IAM
      aws:
        role_arn: arn:aws:iam::123456789012:role/mm2go
        role_session_name: mm2go-replicator
        role_external_id: ext-7
        sts_region: eu-west-1
        role_access_key_id: AKIDBASE
        role_secret_access_key: base-secret-key
        max_retries: 1
        max_backoff_ms: 200
  B: {bootstrap_servers: "b:9092"}
flows: [{source: A, target: B}]
`, b.addr())
	sameClusters(t, yaml, props)
	_, c := clusterFromProperties(t, props)
	if _, err := dialCluster(t, c); err != nil {
		t.Fatalf("ping: %v", err)
	}
	mskIAMPayload(t, b.nextAuth(t), aws.Credentials{AccessKeyID: "ASIAROLETEST", SecretAccessKey: "role-secret-key", SessionToken: "role-session-token"}, "us-east-1")

	sts.mu.Lock()
	defer sts.mu.Unlock()
	if len(sts.forms) != 1 {
		t.Fatalf("%d STS requests, want 1 (credentials are cached)", len(sts.forms))
	}
	f := sts.forms[0]
	for k, want := range map[string]string{"RoleArn": "arn:aws:iam::123456789012:role/mm2go", "RoleSessionName": "mm2go-replicator", "ExternalId": "ext-7"} {
		if f.Get(k) != want {
			t.Errorf("AssumeRole %s = %q, want %q", k, f.Get(k), want)
		}
	}
	if a := sts.auths[0]; !strings.Contains(a, "Credential=AKIDBASE/") || !strings.Contains(a, "/eu-west-1/sts/") {
		t.Errorf("AssumeRole signed as %q; want the awsRoleAccessKeyId credentials in eu-west-1", a)
	}

	// Without awsRoleAccessKeyId the default chain assumes the role, at
	// the global endpoint with MSK's default session name.
	c.SASL.AWS = &AWSIAM{RoleARN: "arn:aws:iam::123456789012:role/mm2go"}
	sts.mu.Unlock()
	_, err := dialCluster(t, c)
	sts.mu.Lock()
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	if len(sts.forms) != 2 || sts.forms[1].Get("RoleSessionName") != "aws-msk-iam-auth" || !strings.Contains(sts.auths[1], "Credential=AKIDENVTEST/") {
		t.Errorf("AssumeRole with the default chain: forms %v, authorization %q", sts.forms, sts.auths)
	}
}

// TestMSKIAM_Errors checks failures: a missing profile is an error of
// ClientOpts (and so of mm2go validate), and credentials STS refuses fail
// the connection with STS's error, not a secret.
func TestMSKIAM_Errors(t *testing.T) {
	awsTestEnv(t)
	c := &Cluster{Alias: "A", BootstrapServers: []string{"127.0.0.1:1"}, SecurityProtocol: "SASL_SSL",
		SASL: &SASL{Mechanism: "AWS_MSK_IAM", AWS: &AWSIAM{Profile: "no-such-profile"}}}
	_, err := c.ClientOpts()
	if err == nil || !strings.Contains(err.Error(), "clusters.A.sasl.aws.profile: load AWS config") || !strings.Contains(err.Error(), "no-such-profile") {
		t.Errorf("ClientOpts with a missing profile = %v", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed to assume mm2go</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	b := newSASLBroker(t, "AWS_MSK_IAM", mskAnswer)
	c = &Cluster{Alias: "A", BootstrapServers: []string{b.addr()}, SecurityProtocol: "SASL_PLAINTEXT",
		SASL: &SASL{Mechanism: "AWS_MSK_IAM", AWS: &AWSIAM{RoleARN: "arn:aws:iam::123456789012:role/mm2go", MaxRetries: new(int)}}}
	_, err = dialCluster(t, c)
	if err == nil || !strings.Contains(err.Error(), "get AWS credentials for AWS_MSK_IAM") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("ping with a refused role = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "env-secret-key") {
		t.Errorf("error %q holds the secret key", err)
	}
}

// TestMSKIAM_OAuthBearer checks OAUTHBEARER with MSK's
// IAMOAuthBearerLoginCallbackHandler: the token is a base64url presigned
// kafka-cluster:Connect URL for kafka.<region>.amazonaws.com.
func TestMSKIAM_OAuthBearer(t *testing.T) {
	awsTestEnv(t)
	t.Setenv("AWS_REGION", "eu-central-1")
	b := newSASLBroker(t, "OAUTHBEARER", func([]byte) ([]byte, string, time.Duration) { return nil, "", 0 })
	props := fmt.Sprintf(`clusters = A, B
A.bootstrap.servers = %s
A.security.protocol = SASL_PLAINTEXT
A.sasl.mechanism = OAUTHBEARER
A.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
A.sasl.login.callback.handler.class = software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler
A.sasl.client.callback.handler.class = software.amazon.msk.auth.iam.IAMOAuthBearerClientCallbackHandler
B.bootstrap.servers = b:9092
`, b.addr())
	yaml := fmt.Sprintf(`
clusters:
  A: {bootstrap_servers: "%s", security_protocol: SASL_PLAINTEXT, sasl: {mechanism: OAUTHBEARER, aws: {}}}
  B: {bootstrap_servers: "b:9092"}
flows: [{source: A, target: B}]
`, b.addr())
	sameClusters(t, yaml, props)
	_, c := clusterFromProperties(t, props)
	if _, err := dialCluster(t, c); err != nil {
		t.Fatalf("ping: %v", err)
	}
	tok, _ := oauthBearerToken(t, b.nextAuth(t))
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("token is not base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "kafka.eu-central-1.amazonaws.com" || q.Get("Action") != "kafka-cluster:Connect" ||
		!regexp.MustCompile(`^AKIDENVTEST/\d{8}/eu-central-1/kafka-cluster/aws4_request$`).MatchString(q.Get("X-Amz-Credential")) ||
		q.Get("X-Amz-Security-Token") != "env-session-token" || len(q.Get("X-Amz-Signature")) != 64 || q.Get("User-Agent") == "" {
		t.Errorf("token URL %s", raw)
	}

	// Without a region there is no host to sign for.
	t.Setenv("AWS_REGION", "")
	if _, err := c.ClientOpts(); err == nil || !strings.Contains(err.Error(), "needs the cluster's AWS region") {
		t.Errorf("ClientOpts without a region = %v", err)
	}
}
