package flows

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms.
const (
	mechPlain     = "PLAIN"
	mechScram256  = "SCRAM-SHA-256"
	mechScram512  = "SCRAM-SHA-512"
	mechMSKIAM    = "AWS_MSK_IAM"
	mechOAuth     = "OAUTHBEARER"
	mechGSSAPI    = "GSSAPI"
	redactedValue = "[redacted]"
)

// saslMechanisms are the SASL mechanisms mm2go supports, for messages.
var saslMechanisms = []string{mechPlain, mechScram256, mechScram512, mechMSKIAM, mechOAuth, mechGSSAPI}

// AWSIAM says where AWS_MSK_IAM (and OAUTHBEARER with MSK's IAM tokens)
// finds AWS credentials: the options of MSK's IAMLoginModule. Without a
// profile or role, the AWS SDK's default chain is used: environment
// variables, the shared config and credentials files (AWS_PROFILE), web
// identity (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN), the ECS
// container role, then the EC2 instance role.
type AWSIAM struct {
	// Profile is a profile of the shared AWS config files (awsProfileName).
	Profile string `json:"profile,omitempty" koanf:"profile"`
	// RoleARN is a role assumed through STS with the credentials found as
	// above, or with RoleAccessKeyID and RoleSecretAccessKey (awsRoleArn).
	RoleARN string `json:"role_arn,omitempty" koanf:"role_arn"`
	// RoleSessionName names the assumed role's session
	// (awsRoleSessionName); default "aws-msk-iam-auth", as in MSK's library.
	RoleSessionName string `json:"role_session_name,omitempty" koanf:"role_session_name"`
	// RoleExternalID is the external ID the role's trust policy asks for
	// (awsRoleExternalId).
	RoleExternalID string `json:"role_external_id,omitempty" koanf:"role_external_id"`
	// RoleAccessKeyID, RoleSecretAccessKey and RoleSessionToken are static
	// credentials used to assume RoleARN (awsRoleAccessKeyId,
	// awsRoleSecretAccessKey, awsRoleSessionToken).
	RoleAccessKeyID     string `json:"role_access_key_id,omitempty" koanf:"role_access_key_id"`
	RoleSecretAccessKey string `json:"-" koanf:"role_secret_access_key"`
	RoleSessionToken    string `json:"-" koanf:"role_session_token"`
	// STSRegion is the region of the STS endpoint used to assume RoleARN
	// (awsStsRegion); default the global endpoint, as in MSK's library.
	STSRegion string `json:"sts_region,omitempty" koanf:"sts_region"`
	// MaxRetries and MaxBackoffMs bound the retries of AWS calls
	// (awsMaxRetries, default 3; awsMaxBackOffTimeMs, default 5000).
	MaxRetries   *int `json:"max_retries,omitempty" koanf:"max_retries"`
	MaxBackoffMs *int `json:"max_backoff_ms,omitempty" koanf:"max_backoff_ms"`
}

// String shows the options without the secrets.
func (a *AWSIAM) String() string {
	if a == nil {
		return "<nil>"
	}
	c := *a
	if c.RoleSecretAccessKey != "" {
		c.RoleSecretAccessKey = redactedValue
	}
	if c.RoleSessionToken != "" {
		c.RoleSessionToken = redactedValue
	}
	return fmt.Sprintf("{Profile:%s RoleARN:%s RoleSessionName:%s RoleExternalID:%s RoleAccessKeyID:%s RoleSecretAccessKey:%s RoleSessionToken:%s STSRegion:%s}",
		c.Profile, c.RoleARN, c.RoleSessionName, c.RoleExternalID, c.RoleAccessKeyID, c.RoleSecretAccessKey, c.RoleSessionToken, c.STSRegion)
}

// GoString is String, for %#v.
func (a *AWSIAM) GoString() string { return a.String() }

// OAuth configures OAUTHBEARER tokens: Kafka's OAuthBearerLoginModule with
// its OAuthBearerLoginCallbackHandler (the client credentials grant of
// OAuth 2), or with the default unsecured handler, which builds unsigned
// tokens for tests.
type OAuth struct {
	// TokenEndpointURL is the identity provider's token endpoint
	// (sasl.oauthbearer.token.endpoint.url): https:// (or http://), or a
	// file: URL naming a file that holds a token, read again at each
	// refresh.
	TokenEndpointURL string `json:"token_endpoint_url,omitempty" koanf:"token_endpoint_url"`
	// ClientID and ClientSecret authenticate mm2go to the token endpoint
	// (clientId and clientSecret in sasl.jaas.config), in an HTTP Basic
	// Authorization header, as Kafka sends them.
	ClientID     string `json:"client_id,omitempty" koanf:"client_id"`
	ClientSecret string `json:"-" koanf:"client_secret"`
	// Scope is sent in the token request when set (scope).
	Scope string `json:"scope,omitempty" koanf:"scope"`
	// Extensions are SASL extensions sent with the token
	// (extension_<name>=<value> options).
	Extensions map[string]string `json:"extensions,omitempty" koanf:"extensions"`
	// ScopeClaimName and SubClaimName name the token's scope and subject
	// claims (sasl.oauthbearer.scope.claim.name, default "scope";
	// sasl.oauthbearer.sub.claim.name, default "sub"). As in Kafka, the
	// token must be a JWT with an "exp" claim and a subject.
	ScopeClaimName string `json:"scope_claim_name,omitempty" koanf:"scope_claim_name"`
	SubClaimName   string `json:"sub_claim_name,omitempty" koanf:"sub_claim_name"`
	// HeaderURLEncode URL-encodes the client ID and secret in the
	// Authorization header (sasl.oauthbearer.header.urlencode).
	HeaderURLEncode bool `json:"header_urlencode,omitempty" koanf:"header_urlencode"`
	// Unsecured, when set, makes mm2go build unsigned tokens itself from
	// these unsecuredLogin* options of sasl.jaas.config
	// ("unsecuredLoginStringClaim_sub": "alice"), as Kafka's
	// OAuthBearerUnsecuredLoginCallbackHandler does. Brokers accept such
	// tokens only with their unsecured validator: for tests.
	Unsecured map[string]string `json:"unsecured,omitempty" koanf:"unsecured"`
}

// String shows the options without the client secret.
func (o *OAuth) String() string {
	if o == nil {
		return "<nil>"
	}
	secret := ""
	if o.ClientSecret != "" {
		secret = redactedValue
	}
	return fmt.Sprintf("{TokenEndpointURL:%s ClientID:%s ClientSecret:%s Scope:%s Extensions:%v ScopeClaimName:%s SubClaimName:%s HeaderURLEncode:%t Unsecured:%v}",
		o.TokenEndpointURL, o.ClientID, secret, o.Scope, o.Extensions, o.ScopeClaimName, o.SubClaimName, o.HeaderURLEncode, o.Unsecured)
}

// GoString is String, for %#v.
func (o *OAuth) GoString() string { return o.String() }

// Kerberos configures GSSAPI: Java's Krb5LoginModule with a keytab.
type Kerberos struct {
	// ServiceName is the primary of the brokers' principal
	// (sasl.kerberos.service.name), usually "kafka": mm2go asks for a
	// ticket for <service_name>/<broker host>.
	ServiceName string `json:"service_name,omitempty" koanf:"service_name"`
	// Principal is mm2go's principal, "name[/instance]@REALM" (principal);
	// without a realm, the default_realm of krb5.conf.
	Principal string `json:"principal,omitempty" koanf:"principal"`
	// KeytabFile holds the principal's keys (keyTab, with useKeyTab=true).
	KeytabFile string `json:"keytab_file,omitempty" koanf:"keytab_file"`
	// ConfigFile is the krb5.conf naming the realms and KDCs
	// (java.security.krb5.conf); empty means $KRB5_CONFIG, else
	// /etc/krb5.conf.
	ConfigFile string `json:"config_file,omitempty" koanf:"config_file"`
}

// String returns the mechanism and its options, never a secret, so that
// logging a Cluster does not leak one.
func (s *SASL) String() string {
	if s == nil {
		return "<nil>"
	}
	pw := ""
	if s.Password != "" {
		pw = redactedValue
	}
	out := fmt.Sprintf("{Mechanism:%s Username:%s Password:%s", s.Mechanism, s.Username, pw)
	if s.AWS != nil {
		out += " AWS:" + s.AWS.String()
	}
	if s.OAuth != nil {
		out += " OAuth:" + s.OAuth.String()
	}
	if s.Kerberos != nil {
		out += fmt.Sprintf(" Kerberos:%+v", *s.Kerberos)
	}
	return out + "}"
}

// GoString is String, for %#v.
func (s *SASL) GoString() string { return s.String() }

// String shows the TLS settings without passwords or the inline key.
func (t *TLS) String() string {
	if t == nil {
		return "<nil>"
	}
	c := *t
	for _, p := range []*string{&c.TruststorePassword, &c.KeystorePassword, &c.KeyPassword, &c.KeyPEM} {
		if *p != "" {
			*p = redactedValue
		}
	}
	type plain TLS // no String method
	return fmt.Sprintf("%+v", plain(c))
}

// GoString is String, for %#v.
func (t *TLS) GoString() string { return t.String() }

// mechanism returns the upper-case mechanism name.
func (s *SASL) mechanism() string { return strings.ToUpper(strings.TrimSpace(s.Mechanism)) }

// saslMechanism returns the SASL mechanism of c, or nil if its protocol
// does not use SASL. It reads the files the mechanism needs (a keytab,
// krb5.conf, the AWS config files) but contacts nothing: tokens,
// credentials and tickets are fetched when a connection authenticates.
func (c *Cluster) saslMechanism() (sasl.Mechanism, error) {
	if !usesSASL(c.protocol()) {
		return nil, nil
	}
	s := c.SASL
	if s == nil {
		return nil, &FieldError{Path: c.at("sasl"), Msg: "required by security protocol " + c.protocol()}
	}
	switch s.mechanism() {
	case mechPlain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case mechScram256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case mechScram512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	case mechMSKIAM:
		return c.mskIAMMechanism()
	case mechOAuth:
		switch {
		case s.AWS != nil:
			return c.mskOAuthMechanism()
		case s.OAuth != nil && s.OAuth.Unsecured != nil:
			return c.unsecuredOAuthMechanism()
		case s.OAuth != nil:
			return c.oauthMechanism()
		}
		return nil, &FieldError{Path: c.at("sasl.oauth"), Msg: "required by OAUTHBEARER: give oauth.token_endpoint_url, client_id and client_secret, or aws for MSK IAM tokens"}
	case mechGSSAPI:
		return c.kerberosMechanism()
	}
	return nil, &FieldError{Path: c.at("sasl.mechanism"),
		Msg: fmt.Sprintf("mechanism %q is not supported; use %s", s.Mechanism, strings.Join(saslMechanisms, ", "))}
}

// sasl checks the SASL settings of c: a supported mechanism with the
// settings it needs and none it does not use.
func (v *validator) sasl(c *Cluster) {
	s := c.SASL
	if s.loadFailed {
		return
	}
	mech := s.mechanism()
	uses := map[string]bool{}
	switch mech {
	case mechPlain, mechScram256, mechScram512:
		uses["username"], uses["password"] = true, true
		if s.Username == "" {
			v.add(c.at("sasl.username"), "no user name given")
		}
		if s.Password == "" {
			v.add(c.at("sasl.password"), "no password given")
		}
	case mechMSKIAM:
		uses["aws"] = true
		v.awsIAM(c)
	case mechOAuth:
		uses["aws"], uses["oauth"] = true, true
		switch {
		case s.AWS != nil && s.OAuth != nil:
			v.add(c.at("sasl.oauth"), "set together with sasl.aws: OAUTHBEARER takes its tokens from an OAuth endpoint (oauth) or from MSK IAM (aws), not both")
		case s.AWS != nil:
			v.awsIAM(c)
		case s.OAuth != nil:
			v.oauth(c)
		default:
			v.add(c.at("sasl.oauth"), "required by OAUTHBEARER: give oauth.token_endpoint_url, oauth.client_id and oauth.client_secret (or aws for MSK IAM tokens)")
		}
	case mechGSSAPI:
		uses["kerberos"] = true
		v.kerberos(c)
	case "":
		v.add(c.at("sasl.mechanism"), "required: use %s", strings.Join(saslMechanisms, ", "))
		return
	default:
		v.add(c.at("sasl.mechanism"), "mechanism %s is not supported; use %s", s.Mechanism, strings.Join(saslMechanisms, ", "))
		return
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"username", s.Username != ""}, {"password", s.Password != ""},
		{"aws", s.AWS != nil}, {"oauth", s.OAuth != nil}, {"kerberos", s.Kerberos != nil},
	} {
		if f.set && !uses[f.name] {
			v.add(c.at("sasl."+f.name), "set, but mechanism %s does not use it", mech)
		}
	}
}
