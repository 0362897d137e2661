package flows

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// This file says what mm2go does with each ssl.* and sasl.* Java client
// property that is not one of the cluster's structured TLS and SASL
// settings (structuredKeys) nor an OAUTHBEARER login property
// (saslLoginProps): honoured (TLSConfig reads it), accepted with a warning
// that says why it does not matter, or refused with an error that says why
// mm2go cannot do what it asks.

// securityProp is what mm2go does with one ssl.* or sasl.* property: with
// neither ignore nor refuse set it is honoured. A class property set to
// Java's default class (defaultClass) asks for nothing more than leaving it
// out does, and is honoured too.
type securityProp struct{ ignore, refuse, defaultClass string }

const (
	jvmOnly         = "mm2go's TLS is Go's crypto/tls, and what goes on the wire is set by ssl.enabled.protocols, ssl.protocol and ssl.cipher.suites"
	brokerOnly      = "a broker setting; Java clients do not read it either"
	brokerOAuthOnly = "read by brokers to validate OAuth tokens; Java clients do not use it either (a client checks only the claims sasl.oauthbearer.scope.claim.name and sasl.oauthbearer.sub.claim.name name)"
	noTicketCache   = "mm2go logs in to Kerberos with the keytab for every connection, so there is no long-lived ticket to renew (useTicketCache, the only case where Java runs kinit, is refused)"
	kip1139Retrieve = "Kafka 4.1's token retriever settings are not supported: mm2go fetches OAuth tokens itself with the client credentials grant; set clientId, clientSecret and scope in sasl.jaas.config (YAML: sasl.oauth)"
)

var securityProps = map[string]securityProp{
	// Honoured: TLSConfig.
	"ssl.endpoint.identification.algorithm": {},
	"ssl.enabled.protocols":                 {},
	"ssl.protocol":                          {},
	"ssl.cipher.suites":                     {},

	// The JVM's TLS implementation.
	"ssl.provider": {ignore: "the JVM security provider that implements TLS; " + jvmOnly +
		" (for FIPS 140-3, run mm2go with GODEBUG=fips140=on)"},
	"ssl.secure.random.implementation": {ignore: "the JVM's random number generator for TLS; mm2go uses Go's crypto/rand, the operating system's generator"},
	"ssl.keymanager.algorithm": {ignore: "the JVM factory that picks the client certificate from the key store; " +
		"mm2go presents the key store's certificate itself, so nothing changes on the wire"},
	"ssl.trustmanager.algorithm": {ignore: "the JVM factory that checks broker certificates; mm2go checks them with Go's " +
		"crypto/x509 (RFC 5280 path validation, as the default PKIX does) against the trust store"},
	"ssl.engine.factory.class": {refuse: "a Java class that builds the TLS engine; mm2go cannot load Java classes: remove it and " +
		"configure TLS with the trust and key store keys (YAML: tls) and ssl.enabled.protocols, ssl.protocol, ssl.cipher.suites",
		defaultClass: "org.apache.kafka.common.security.ssl.DefaultSslEngineFactory"},

	// Broker settings people copy into client files.
	"ssl.client.auth":                        {ignore: brokerOnly},
	"ssl.principal.mapping.rules":            {ignore: brokerOnly},
	"ssl.allow.dn.changes":                   {ignore: brokerOnly},
	"ssl.allow.san.changes":                  {ignore: brokerOnly},
	"sasl.enabled.mechanisms":                {ignore: brokerOnly},
	"sasl.mechanism.inter.broker.protocol":   {ignore: brokerOnly},
	"sasl.server.callback.handler.class":     {ignore: brokerOnly},
	"sasl.server.max.receive.size":           {ignore: brokerOnly},
	"sasl.kerberos.principal.to.local.rules": {ignore: brokerOnly},

	// Kerberos ticket renewal.
	"sasl.kerberos.kinit.cmd":                  {ignore: noTicketCache},
	"sasl.kerberos.ticket.renew.window.factor": {ignore: noTicketCache},
	"sasl.kerberos.ticket.renew.jitter":        {ignore: noTicketCache},
	"sasl.kerberos.min.time.before.relogin":    {ignore: noTicketCache},

	// OAuth token validation on brokers.
	"sasl.oauthbearer.jwks.endpoint.url":                  {ignore: brokerOAuthOnly},
	"sasl.oauthbearer.jwks.endpoint.refresh.ms":           {ignore: brokerOAuthOnly},
	"sasl.oauthbearer.jwks.endpoint.retry.backoff.ms":     {ignore: brokerOAuthOnly},
	"sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms": {ignore: brokerOAuthOnly},
	"sasl.oauthbearer.clock.skew.seconds":                 {ignore: brokerOAuthOnly},
	"sasl.oauthbearer.expected.audience":                  {ignore: brokerOAuthOnly},
	"sasl.oauthbearer.expected.issuer":                    {ignore: brokerOAuthOnly},
	"sasl.oauthbearer.jwt.validator.class": {refuse: "a Java class that checks the tokens the client receives; mm2go cannot load Java classes " +
		"and checks a token as Java's default does (a JWT with exp and the sub claim): remove it",
		defaultClass: "org.apache.kafka.common.security.oauthbearer.DefaultJwtValidator"},

	// Kafka 4.1's token retrievers (KIP-1139).
	"sasl.oauthbearer.jwt.retriever.class": {refuse: kip1139Retrieve,
		defaultClass: "org.apache.kafka.common.security.oauthbearer.DefaultJwtRetriever"},
	"sasl.oauthbearer.client.credentials.client.id":     {refuse: kip1139Retrieve},
	"sasl.oauthbearer.client.credentials.client.secret": {refuse: kip1139Retrieve},
	"sasl.oauthbearer.scope":                            {refuse: kip1139Retrieve},
	"sasl.oauthbearer.assertion.algorithm":              {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.claim.aud":              {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.claim.exp.seconds":      {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.claim.iss":              {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.claim.jti.include":      {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.claim.nbf.seconds":      {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.claim.sub":              {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.file":                   {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.private.key.file":       {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.private.key.passphrase": {refuse: kip1139Assertion},
	"sasl.oauthbearer.assertion.template.file":          {refuse: kip1139Assertion},
}

const kip1139Assertion = "the JWT bearer grant (client assertions, Kafka 4.1) is not supported: mm2go fetches OAuth tokens with the client credentials grant (clientId and clientSecret in sasl.jaas.config; YAML: sasl.oauth)"

// securityPropNames returns every ssl.* and sasl.* property mm2go knows,
// sorted, for suggestions.
var securityPropNames = sync.OnceValue(func() []string {
	names := sortedKeys(securityProps)
	for k := range structuredKeys {
		if strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "sasl.") {
			names = append(names, k)
		}
	}
	for k := range saslLoginProps {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
})

// securityPropProblem says what is wrong with an ssl.* or sasl.* property
// that is neither structured nor a login property: refuse is an error,
// ignore a warning; an unknown one is an error.
func securityPropProblem(key, value string) (refuse, ignore string) {
	p, ok := securityProps[key]
	switch {
	case !ok:
		return "not a Java client TLS or SASL property" + didYouMean(suggest(key, securityPropNames())), ""
	case p.defaultClass != "" && strings.TrimSpace(value) == p.defaultClass:
		return "", ""
	}
	return p.refuse, p.ignore
}

// tlsVersions are the TLS versions mm2go speaks, by Java's names.
var tlsVersions = map[string]uint16{"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}

// tlsVersionName returns Java's name of a TLS version.
func tlsVersionName(v uint16) string {
	for name, x := range tlsVersions {
		if x == v {
			return name
		}
	}
	return fmt.Sprintf("0x%04x", v)
}

// obsoleteProtocol says why a protocol name Java may know is refused, or
// "" when the name is not one of them.
func obsoleteProtocol(name string) string {
	switch strings.ToUpper(name) {
	case "TLSV1", "TLSV1.1", "SSLV3", "SSLV2", "SSLV2HELLO", "SSL":
		return fmt.Sprintf("%s is obsolete and insecure (RFC 8996); mm2go speaks TLSv1.2 and TLSv1.3", name)
	}
	return ""
}

// tlsVersion returns the version Java calls name, case aside.
func tlsVersion(name string) (uint16, bool) {
	for n, v := range tlsVersions {
		if strings.EqualFold(n, name) {
			return v, true
		}
	}
	return 0, false
}

// tlsTuning is what ssl.enabled.protocols, ssl.protocol and
// ssl.cipher.suites ask of a cluster's TLS.
type tlsTuning struct {
	min, max uint16
	// suites are the TLS 1.2 cipher suites; nil means Go's defaults.
	suites []uint16
}

// tls13Suites are the TLS 1.3 cipher suites, by name. Go's crypto/tls does
// not let them be chosen: it offers all of them.
var tls13Suites = sync.OnceValue(func() []string {
	var out []string
	for _, s := range tls.CipherSuites() {
		if slices.Equal(s.SupportedVersions, []uint16{tls.VersionTLS13}) {
			out = append(out, s.Name)
		}
	}
	return out
})

// tls12Suites are the cipher suites mm2go can be told to use for TLS 1.2,
// by IANA name (Java's standard names): Go's, less RC4 and 3DES, which
// Java disables too (jdk.tls.disabledAlgorithms).
var tls12Suites = sync.OnceValue(func() map[string]uint16 {
	out := make(map[string]uint16)
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(s.SupportedVersions, tls.VersionTLS12) && !weakSuite(s.Name) {
			out[s.Name] = s.ID
		}
	}
	return out
})

func weakSuite(name string) bool {
	return strings.Contains(name, "_RC4_") || strings.Contains(name, "_3DES_")
}

// tlsTuning maps ssl.enabled.protocols, ssl.protocol and ssl.cipher.suites
// onto TLS versions and cipher suites, as Java's DefaultSslEngineFactory
// applies them:
//
//   - ssl.enabled.protocols (default TLSv1.2,TLSv1.3) bounds the versions
//     from its lowest to its highest; empty means the default.
//   - ssl.protocol (default TLSv1.3) names the highest version the client
//     may use ("TLS" is the highest there is), whatever the list enables.
//   - ssl.cipher.suites (default: Go's) are the TLS 1.2 suites, by IANA
//     name (Java's SSL_ prefix is read as TLS_). Go's crypto/tls does not
//     let TLS 1.3 suites be chosen, so a list must name all of them or
//     none: with none, TLS 1.3 has no suite, and as in Java the client
//     stops at TLSv1.2; a list of TLS 1.3 suites only leaves TLS 1.2
//     without one, so the client starts at TLSv1.3. Go orders the suites
//     by its own preference, not the list's.
//
// Obsolete versions (TLSv1, TLSv1.1, SSL*), RC4 and 3DES suites, unknown
// names and settings that leave no version or suite are errors.
func (c *Cluster) tlsTuning() (tlsTuning, []error) {
	tt := tlsTuning{min: tls.VersionTLS12, max: tls.VersionTLS13}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Path: c.at("properties." + key), Msg: fmt.Sprintf(format, args...)})
	}
	if v, ok := c.Properties["ssl.enabled.protocols"]; ok && len(splitList(v)) > 0 {
		tt.min, tt.max = tls.VersionTLS13, tls.VersionTLS12
		for _, name := range splitList(v) {
			ver, ok := tlsVersion(name)
			switch {
			case !ok && obsoleteProtocol(name) != "":
				bad("ssl.enabled.protocols", "%s: remove it", obsoleteProtocol(name))
				continue
			case !ok:
				bad("ssl.enabled.protocols", "unknown protocol %q: use TLSv1.2, TLSv1.3 or both", name)
				continue
			}
			tt.min, tt.max = min(tt.min, ver), max(tt.max, ver)
		}
		if tt.min > tt.max { // nothing usable listed; reported above
			tt.min, tt.max = tls.VersionTLS12, tls.VersionTLS13
		}
	}
	if v, ok := c.Properties["ssl.protocol"]; ok {
		name := strings.TrimSpace(v)
		ver, known := tlsVersion(name)
		switch {
		case strings.EqualFold(name, "TLS"):
			// The highest version there is.
		case known:
			if ver < tt.min {
				bad("ssl.protocol", "%s is below every protocol ssl.enabled.protocols enables (from %s): no TLS version is left", name, tlsVersionName(tt.min))
			}
			tt.max = min(tt.max, ver)
		case obsoleteProtocol(name) != "":
			bad("ssl.protocol", "%s: use TLSv1.3 (the default) or TLSv1.2", obsoleteProtocol(name))
		default:
			bad("ssl.protocol", "unknown protocol %q: use TLSv1.3 (the default), TLSv1.2 or TLS", name)
		}
	}
	if v, ok := c.Properties["ssl.cipher.suites"]; ok && len(splitList(v)) > 0 {
		var named13, unknown, weak []string
		for _, name := range splitList(v) {
			if rest, ok := strings.CutPrefix(name, "SSL_"); ok {
				name = "TLS_" + rest // Java's old names of the same suites
			}
			id, ok := tls12Suites()[name]
			switch {
			case ok:
				if !slices.Contains(tt.suites, id) {
					tt.suites = append(tt.suites, id)
				}
			case slices.Contains(tls13Suites(), name):
				if !slices.Contains(named13, name) {
					named13 = append(named13, name)
				}
			case name == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV":
				// A signal, not a suite: Go's client always signals secure
				// renegotiation (RFC 5746).
			case weakSuite(name):
				weak = append(weak, name)
			default:
				unknown = append(unknown, name)
			}
		}
		if len(weak) > 0 {
			bad("ssl.cipher.suites", "%s: RC4 and 3DES suites are insecure, and Java disables them too (jdk.tls.disabledAlgorithms): remove them", strings.Join(weak, ", "))
		}
		if len(unknown) > 0 {
			bad("ssl.cipher.suites", "unknown cipher suite(s) %s: use IANA names; mm2go knows %s for TLSv1.2 and %s for TLSv1.3",
				strings.Join(unknown, ", "), strings.Join(sortedKeys(tls12Suites()), ", "), strings.Join(tls13Suites(), ", "))
		}
		all13 := len(named13) == len(tls13Suites())
		switch {
		case len(named13) > 0 && !all13 && tt.max >= tls.VersionTLS13:
			var missing []string
			for _, s := range tls13Suites() {
				if !slices.Contains(named13, s) {
					missing = append(missing, s)
				}
			}
			bad("ssl.cipher.suites", "names TLS 1.3 suite(s) %s but not %s: Go's crypto/tls does not let TLS 1.3 suites be chosen "+
				"(it offers all of them); list all three, or none and keep TLS 1.2 suites only (the client then stops at TLSv1.2, as in Java)",
				strings.Join(named13, ", "), strings.Join(missing, ", "))
		case len(named13) == 0 && len(tt.suites) > 0:
			// No TLS 1.3 suite enabled: as in Java, the client stops at 1.2.
			if tt.min > tls.VersionTLS12 {
				bad("ssl.cipher.suites", "names no TLS 1.3 suite, and ssl.enabled.protocols or ssl.protocol allows only TLSv1.3: no suite is left")
			}
			tt.max = tls.VersionTLS12
		case len(named13) > 0 && len(tt.suites) == 0 && len(unknown)+len(weak) == 0:
			// TLS 1.3 suites only: TLS 1.2 has none, so the client starts
			// at 1.3.
			if tt.max < tls.VersionTLS13 {
				bad("ssl.cipher.suites", "names TLS 1.3 suites only, and ssl.enabled.protocols or ssl.protocol allows only TLSv1.2: no suite is left")
			}
			tt.min = tls.VersionTLS13
		}
	}
	return tt, errs
}

// apply sets cfg's versions and cipher suites.
func (tt tlsTuning) apply(cfg *tls.Config) {
	cfg.MinVersion, cfg.MaxVersion = tt.min, tt.max
	cfg.CipherSuites = tt.suites
}
