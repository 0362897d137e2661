package flows

import (
	"slices"
	"strconv"
	"strings"
)

// How mm2.properties' ssl.* and sasl.* keys map onto TLS and SASL.

// consumedTLSKeys are the ssl.* keys mapped onto Cluster.TLS.
var consumedTLSKeys = []string{
	"ssl.truststore.location", "ssl.truststore.type", "ssl.truststore.password", "ssl.truststore.certificates",
	"ssl.keystore.location", "ssl.keystore.type", "ssl.keystore.password", "ssl.key.password",
	"ssl.keystore.certificate.chain", "ssl.keystore.key",
}

// consumedSASLKeys are the keys mapped onto Cluster.SASL.
var consumedSASLKeys = []string{
	"sasl.mechanism", "sasl.jaas.config", "sasl.client.callback.handler.class", "sasl.login.callback.handler.class",
	"sasl.login.class", "sasl.kerberos.service.name", "java.security.krb5.conf",
	"sasl.oauthbearer.token.endpoint.url", "sasl.oauthbearer.scope.claim.name", "sasl.oauthbearer.sub.claim.name",
	"sasl.oauthbearer.header.urlencode",
}

// Java class names of login modules and callback handlers.
const (
	classPlainLogin    = "org.apache.kafka.common.security.plain.PlainLoginModule"
	classScramLogin    = "org.apache.kafka.common.security.scram.ScramLoginModule"
	classOAuthLogin    = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
	classKrb5Login     = "com.sun.security.auth.module.Krb5LoginModule"
	classIAMLogin      = "software.amazon.msk.auth.iam.IAMLoginModule"
	classIAMClientCB   = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
	classIAMOAuthLogin = "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler"
	classIAMOAuthCB    = "software.amazon.msk.auth.iam.IAMOAuthBearerClientCallbackHandler"
	classOAuthLoginCB  = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
	// The pre-3.4 name of the same handler.
	classOAuthLoginCBSecured = "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler"
	classOAuthClientCB       = "org.apache.kafka.common.security.oauthbearer.internals.OAuthBearerSaslClientCallbackHandler"
)

// loginModules says which mechanisms each supported login module serves.
var loginModules = map[string][]string{
	classPlainLogin: {mechPlain},
	classScramLogin: {mechScram256, mechScram512},
	classIAMLogin:   {mechMSKIAM},
	classOAuthLogin: {mechOAuth},
	classKrb5Login:  {mechGSSAPI},
}

const supportedLoginModules = "PlainLoginModule (PLAIN), ScramLoginModule (SCRAM-SHA-256, SCRAM-SHA-512), " +
	"software.amazon.msk.auth.iam.IAMLoginModule (AWS_MSK_IAM), OAuthBearerLoginModule (OAUTHBEARER) and " +
	"com.sun.security.auth.module.Krb5LoginModule (GSSAPI)"

// propertiesTLS maps the ssl.* keys of a TLS cluster onto a TLS, or nil if
// none is set.
func (f *File) propertiesTLS(c *Cluster, get func(string) (string, string, bool)) *TLS {
	t := &TLS{}
	typeOf := func(key string) (string, string) {
		typ, at, ok := get(key)
		if !ok {
			typ = storeJKS // Java's default
		}
		u, err := storeType(typ)
		if err != nil {
			f.problem(at, "%v", err)
			return "", at
		}
		return u, at
	}

	trustType, trustTypeAt := typeOf("ssl.truststore.type")
	if loc, at, ok := get("ssl.truststore.location"); ok {
		loc = strings.TrimSpace(loc)
		if trustType == storePEM {
			t.CAFile = loc
			c.origin["tls.ca_file"] = at
		} else if trustType != "" {
			t.TruststoreFile, t.TruststoreType = loc, trustType
			c.origin["tls.truststore_file"] = at
			c.origin["tls.truststore_type"] = trustTypeAt
		}
	}
	if pem, at, ok := get("ssl.truststore.certificates"); ok {
		if trustType != storePEM {
			f.problem(at, "inline certificates need %s.ssl.truststore.type=PEM", c.Alias)
		} else {
			t.CAPEM = pem
			c.origin["tls.ca_pem"] = at
		}
	}
	if pw, at, ok := get("ssl.truststore.password"); ok {
		if trustType == storePEM {
			f.warnf("%s: ignored: PEM trust stores have no password", at)
		} else {
			t.TruststorePassword = pw
			c.origin["tls.truststore_password"] = at
		}
	}

	keyType, keyTypeAt := typeOf("ssl.keystore.type")
	if loc, at, ok := get("ssl.keystore.location"); ok {
		loc = strings.TrimSpace(loc)
		if keyType == storePEM {
			t.CertFile, t.KeyFile = loc, loc // a PEM key store holds the key and the chain
			c.origin["tls.cert_file"] = at
			c.origin["tls.key_file"] = at
		} else if keyType != "" {
			t.KeystoreFile, t.KeystoreType = loc, keyType
			c.origin["tls.keystore_file"] = at
			c.origin["tls.keystore_type"] = keyTypeAt
		}
	}
	for _, k := range []struct {
		key   string
		field *string
		name  string
	}{{"ssl.keystore.certificate.chain", &t.CertPEM, "tls.cert_pem"}, {"ssl.keystore.key", &t.KeyPEM, "tls.key_pem"}} {
		if v, at, ok := get(k.key); ok {
			if keyType != storePEM {
				f.problem(at, "an inline key and certificate chain need %s.ssl.keystore.type=PEM", c.Alias)
				continue
			}
			*k.field = v
			c.origin[k.name] = at
		}
	}
	pw, at, ok := get("ssl.keystore.password")
	c.origin["tls.keystore_password"] = at
	if ok {
		if keyType == storePEM {
			f.warnf("%s: ignored: PEM key stores have no store password; ssl.key.password decrypts the key", at)
		} else {
			t.KeystorePassword = pw
			c.origin["tls.keystore_password"] = at
		}
	}
	if pw, at, ok := get("ssl.key.password"); ok {
		t.KeyPassword = pw
		c.origin["tls.key_password"] = at
	}
	if *t == (TLS{}) {
		return nil
	}
	return t
}

// propertiesSASL maps the sasl.* keys of a SASL cluster onto a SASL:
// sasl.mechanism, the login module and options of sasl.jaas.config, the
// callback handler classes, and the mechanism's own keys.
func (f *File) propertiesSASL(c *Cluster, get func(string) (string, string, bool)) *SASL {
	s := &SASL{Mechanism: mechGSSAPI} // Java's default
	mech, at, ok := get("sasl.mechanism")
	if ok {
		s.Mechanism = strings.TrimSpace(mech)
	}
	c.origin["sasl.mechanism"] = at
	mechUpper := s.mechanism()
	if v, at, ok := get("sasl.login.class"); ok {
		f.problem(at, "login class %s is not supported: mm2go logs in itself for each mechanism; remove the key", strings.TrimSpace(v))
	}
	clientCB, clientCBAt, _ := get("sasl.client.callback.handler.class")
	clientCB = strings.TrimSpace(clientCB)
	loginCB, loginCBAt, _ := get("sasl.login.callback.handler.class")
	loginCB = strings.TrimSpace(loginCB)

	jaas, jaasAt, ok := get("sasl.jaas.config")
	for _, field := range []string{"sasl.username", "sasl.password", "sasl.aws", "sasl.oauth", "sasl.oauth.client_id",
		"sasl.oauth.client_secret", "sasl.oauth.unsecured", "sasl.oauth.extensions", "sasl.kerberos", "sasl.kerberos.principal",
		"sasl.kerberos.keytab_file", "sasl.aws.role_arn", "sasl.aws.profile", "sasl.aws.role_access_key_id",
		"sasl.aws.max_retries", "sasl.aws.max_backoff_ms"} {
		c.origin[field] = jaasAt
	}
	failed := func(format string, args ...any) *SASL {
		f.problem(jaasAt, format, args...)
		s.loadFailed = true
		return s
	}
	if !ok {
		return failed("required: mm2go takes the login module and credentials from sasl.jaas.config (it reads no JAAS file)")
	}
	module, opts, err := parseJAAS(jaas)
	if err != nil {
		return failed("%v", err)
	}
	fits, known := loginModules[module]
	if !known {
		return failed("login module %s is not supported; mm2go supports %s", module, supportedLoginModules)
	}
	if !slices.Contains(fits, mechUpper) {
		if _, _, set := get("sasl.mechanism"); !set {
			return failed("login module %s serves %s, but sasl.mechanism is not set, so it is Kafka's default, GSSAPI; set %s.sasl.mechanism",
				shortName(module), strings.Join(fits, " or "), c.Alias)
		}
		return failed("login module %s does not match sasl.mechanism %s (it serves %s)",
			shortName(module), s.Mechanism, strings.Join(fits, " and "))
	}
	// checkHandler refuses a callback handler class that is not one of ok.
	checkHandler := func(class, at, key string, ok ...string) bool {
		if class == "" || slices.Contains(ok, class) {
			return true
		}
		want := "no " + key
		if len(ok) > 0 {
			want = strings.Join(ok, " or ") + " (or none)"
		}
		f.problem(at, "callback handler %s is not supported with %s and %s; use %s", class, shortName(module), mechUpper, want)
		return false
	}
	// take removes an option and returns its value.
	take := func(k string) string {
		v := opts[k]
		delete(opts, k)
		return v
	}

	switch module {
	case classPlainLogin, classScramLogin:
		checkHandler(clientCB, clientCBAt, "sasl.client.callback.handler.class")
		checkHandler(loginCB, loginCBAt, "sasl.login.callback.handler.class")
		s.Username, s.Password = take("username"), take("password")
	case classIAMLogin:
		checkHandler(clientCB, clientCBAt, "sasl.client.callback.handler.class", classIAMClientCB)
		checkHandler(loginCB, loginCBAt, "sasl.login.callback.handler.class")
		if s.AWS = f.jaasAWS(c, opts, jaasAt); *s.AWS == (AWSIAM{}) {
			s.AWS = nil // the default chain, as an empty YAML sasl.aws
		}
	case classOAuthLogin:
		switch loginCB {
		case classIAMOAuthLogin:
			checkHandler(clientCB, clientCBAt, "sasl.client.callback.handler.class", classIAMOAuthCB, classOAuthClientCB)
			s.AWS = f.jaasAWS(c, opts, jaasAt)
		case classOAuthLoginCB, classOAuthLoginCBSecured:
			checkHandler(clientCB, clientCBAt, "sasl.client.callback.handler.class", classOAuthClientCB)
			s.OAuth = f.jaasOAuth(c, get, opts, jaasAt)
		case "":
			// Kafka's default login handler makes unsecured tokens.
			checkHandler(clientCB, clientCBAt, "sasl.client.callback.handler.class", classOAuthClientCB)
			o := &OAuth{Unsecured: map[string]string{}}
			for _, k := range sortedKeys(opts) {
				if strings.HasPrefix(k, unsecuredPrefix) {
					o.Unsecured[k] = take(k)
				}
			}
			if len(o.Unsecured) == 0 {
				s.loadFailed = true
				f.problem(loginCBAt, "required with OAuthBearerLoginModule: set it to %s (client credentials) or %s (MSK IAM); "+
					"without it Kafka makes unsecured test tokens from unsecuredLogin* options, and none are given", classOAuthLoginCB, classIAMOAuthLogin)
			}
			s.OAuth = o
		default:
			checkHandler(loginCB, loginCBAt, "sasl.login.callback.handler.class", classOAuthLoginCB, classOAuthLoginCBSecured, classIAMOAuthLogin)
		}
	case classKrb5Login:
		checkHandler(clientCB, clientCBAt, "sasl.client.callback.handler.class")
		checkHandler(loginCB, loginCBAt, "sasl.login.callback.handler.class")
		s.Kerberos = f.jaasKerberos(c, get, opts, jaasAt)
	}
	for _, k := range sortedKeys(opts) {
		f.warnf("%s: option %s ignored", jaasAt, k)
	}
	return s
}

// jaasAWS maps the options of MSK's IAMLoginModule (also read by its
// IAMOAuthBearerLoginCallbackHandler); it removes them from opts.
func (f *File) jaasAWS(c *Cluster, opts map[string]string, at string) *AWSIAM {
	a := &AWSIAM{}
	for k, dst := range map[string]*string{
		"awsProfileName": &a.Profile, "awsRoleArn": &a.RoleARN, "awsRoleSessionName": &a.RoleSessionName,
		"awsRoleExternalId": &a.RoleExternalID, "awsRoleAccessKeyId": &a.RoleAccessKeyID,
		"awsRoleSecretAccessKey": &a.RoleSecretAccessKey, "awsRoleSessionToken": &a.RoleSessionToken,
		"awsStsRegion": &a.STSRegion,
	} {
		if v, ok := opts[k]; ok {
			*dst = v
			delete(opts, k)
		}
	}
	for k, dst := range map[string]**int{"awsMaxRetries": &a.MaxRetries, "awsMaxBackOffTimeMs": &a.MaxBackoffMs} {
		if v, ok := opts[k]; ok {
			delete(opts, k)
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				f.problem(at, "option %s: expected an integer, got %q", k, v)
				continue
			}
			*dst = &n
		}
	}
	if v, ok := opts["awsDebugCreds"]; ok {
		delete(opts, "awsDebugCreds")
		if b, _ := parseBool(v); b {
			f.warnf("%s: option awsDebugCreds ignored: mm2go does not log the caller identity of its AWS credentials", at)
		}
	}
	return a
}

// jaasOAuth maps the options of OAuthBearerLoginModule with Kafka's
// OAuthBearerLoginCallbackHandler, and the sasl.oauthbearer.* keys; it
// removes the options it takes from opts.
func (f *File) jaasOAuth(c *Cluster, get func(string) (string, string, bool), opts map[string]string, at string) *OAuth {
	o := &OAuth{ClientID: opts["clientId"], ClientSecret: opts["clientSecret"], Scope: opts["scope"]}
	delete(opts, "clientId")
	delete(opts, "clientSecret")
	delete(opts, "scope")
	for _, k := range sortedKeys(opts) {
		if name, ok := strings.CutPrefix(k, "extension_"); ok {
			if o.Extensions == nil {
				o.Extensions = make(map[string]string)
			}
			o.Extensions[name] = opts[k]
			delete(opts, k)
		}
	}
	c.origin["sasl.oauth.scope"] = at
	for _, k := range []struct {
		key, field string
		dst        *string
	}{
		{"sasl.oauthbearer.token.endpoint.url", "sasl.oauth.token_endpoint_url", &o.TokenEndpointURL},
		{"sasl.oauthbearer.scope.claim.name", "sasl.oauth.scope_claim_name", &o.ScopeClaimName},
		{"sasl.oauthbearer.sub.claim.name", "sasl.oauth.sub_claim_name", &o.SubClaimName},
	} {
		v, kAt, ok := get(k.key)
		c.origin[k.field] = kAt
		if ok {
			*k.dst = strings.TrimSpace(v)
		}
	}
	if v, kAt, ok := get("sasl.oauthbearer.header.urlencode"); ok {
		b, valid := parseBool(v)
		if !valid {
			f.problem(kAt, "expected true or false, got %q", v)
		}
		o.HeaderURLEncode = b
	}
	return o
}

// jaasKerberos maps the options of Krb5LoginModule, and
// sasl.kerberos.service.name and java.security.krb5.conf; it removes the
// options it takes from opts.
func (f *File) jaasKerberos(c *Cluster, get func(string) (string, string, bool), opts map[string]string, at string) *Kerberos {
	k := &Kerberos{Principal: opts["principal"], KeytabFile: opts["keyTab"]}
	delete(opts, "principal")
	delete(opts, "keyTab")
	useKeyTab, _ := parseBool(opts["useKeyTab"])
	delete(opts, "useKeyTab")
	if !useKeyTab {
		f.problem(at, "Krb5LoginModule needs useKeyTab=true with keyTab and principal: mm2go logs in with a keytab")
	}
	if v, ok := opts["useTicketCache"]; ok {
		delete(opts, "useTicketCache")
		if b, _ := parseBool(v); b {
			f.problem(at, "useTicketCache=true is not supported: mm2go logs in with a keytab (useKeyTab=true)")
		}
	}
	// Options that change nothing for a keytab login in mm2go.
	for _, o := range []string{"storeKey", "doNotPrompt", "debug", "refreshKrb5Config", "isInitiator", "renewTGT"} {
		delete(opts, o)
	}
	svc, svcAt, svcOK := get("sasl.kerberos.service.name")
	jaasSvc, jaasSvcOK := opts["serviceName"]
	delete(opts, "serviceName")
	switch {
	case svcOK && jaasSvcOK && strings.TrimSpace(svc) != jaasSvc:
		f.problem(svcAt, "conflicts with serviceName=%q in sasl.jaas.config, as Kafka says too; keep one", jaasSvc)
	case jaasSvcOK:
		k.ServiceName = jaasSvc
		c.origin["sasl.kerberos.service_name"] = at
	default:
		k.ServiceName = strings.TrimSpace(svc)
		c.origin["sasl.kerberos.service_name"] = svcAt
	}
	if v, vAt, ok := get("java.security.krb5.conf"); ok {
		k.ConfigFile = strings.TrimSpace(v)
		c.origin["sasl.kerberos.config_file"] = vAt
	} else {
		c.origin["sasl.kerberos.config_file"] = vAt
	}
	return k
}
