// Package flows reads mm2go flow files: which Kafka clusters exist, and
// which flows replicate between them. It loads two formats into one typed
// model, checks it strictly, and expands it into the connector config of
// every enabled flow.
//
// # The model
//
// A [File] holds clusters by alias, top-level settings and flows:
//
//	File
//	├── Clusters  map[alias]*Cluster   bootstrap servers, security protocol, TLS, SASL,
//	│                                  free-form Java client properties
//	├── Settings  map[key]value        MM2 keys every flow inherits ("replication.factor")
//	└── Flows     []*Flow              source -> target, enabled, topic and group
//	                                   patterns, per-flow settings (MM2 keys)
//
// Settings use MM2's own key names and string values, so an mm2.properties
// file maps onto the model without translation, and a YAML file reads like
// one.
//
// # YAML
//
// The YAML format is strict: a key that is not in the schema is an error
// naming its path ("clusters.primary.bootstrap_server: unknown key (did
// you mean bootstrap_servers?)"), and so is a settings key that is not an
// MM2 key mm2go knows ("settings.replication.factr: unknown MM2 key (did
// you mean replication.factor?)").
//
//	clusters:
//	  primary:
//	    bootstrap_servers: ["p1:9093", "p2:9093"]   # or "p1:9093, p2:9093"
//	    security_protocol: SASL_SSL                 # default: PLAINTEXT, or implied by tls/sasl
//	    tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.pem}
//	    sasl: {mechanism: SCRAM-SHA-512, username: mm2, password: secret}
//	    properties: {client.id: mm2go, consumer.fetch.max.bytes: 52428800}
//	  backup:
//	    bootstrap_servers: ["b1:9092"]
//	settings:                      # MM2 keys, defaults for every flow
//	  replication.factor: 3        # numbers and bools are fine; stored as strings
//	  sync.group.offsets.enabled: true
//	flows:
//	  - source: primary
//	    target: backup             # enabled: true is the default in YAML
//	    topics: ["orders\\..*", "payments"]
//	    groups: [".*"]
//	    settings: {replication.factor: 2}
//
// tls and sasl are described under Security below. A flow has source,
// target, enabled, topics, topics_exclude, groups, groups_exclude and
// settings. config_providers defines config providers (see below): name:
// {class, params}.
//
// # mm2.properties
//
// MM2's own file works unchanged, with MM2's keys and defaults:
//
//	clusters = primary, backup
//	primary.bootstrap.servers = p1:9093, p2:9093
//	primary.security.protocol = SASL_SSL
//	primary.ssl.truststore.location = ca.pem
//	primary.ssl.truststore.type = PEM
//	primary.sasl.mechanism = SCRAM-SHA-512
//	primary.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule \
//	    required username="mm2" password="secret";
//	backup.bootstrap.servers = b1:9092
//	replication.factor = 3
//	primary->backup.enabled = true
//	primary->backup.topics = orders\\..*, payments
//
// "<alias>.<key>" keys belong to a cluster: connection settings, Java client
// properties (bare, or "<alias>.consumer.<key>", ".producer.", ".admin."
// for one role) and worker keys ("<alias>.offset.storage.topic");
// top-level bootstrap.servers, security.protocol, ssl.* and sasl.* are a
// fallback for every cluster. "<source>-><target>.<key>" keys belong to a
// flow, which is disabled unless "<source>-><target>.enabled = true". Other
// top-level keys are settings; the ssl.* and sasl.* keys are described
// under Security. The 3.x aliases topics.blacklist, groups.blacklist and
// config.properties.blacklist are read as the *.exclude keys, with a
// warning.
//
// # Honoured or refused
//
// Every key is honoured, or refused by Validate with an error that names
// it: unknown keys, Java classes other than MM2's own defaults
// (known_keys.go), Java client properties mm2go cannot honour
// (clientprops.go), and values mm2go refuses (acks=1,
// transaction.boundary=connector). Only keys that do not matter for
// mm2go (JVM and Connect worker tuning, settings of consumer groups its
// consumers do not have) are accepted, with a warning in [File.Warnings]
// that says why.
//
// # Security
//
// TLS (security_protocol SSL or SASL_SSL) trusts the CAs of tls.ca_file
// (PEM), tls.ca_pem (inline PEM) and tls.truststore_file (a JKS or PKCS12
// trust store, with tls.truststore_password), else the system roots. The
// client certificate comes from one of: tls.cert_file with tls.key_file
// (PEM; an encrypted PKCS#8 key takes tls.key_password), tls.cert_pem with
// tls.key_pem (inline PEM), or tls.keystore_file (JKS or PKCS12, with
// tls.keystore_password; a JKS key entry is decrypted with
// tls.key_password, by default the store password). In mm2.properties
// these are Java's keys:
//
//	ssl.truststore.location, .type, .password   type JKS (default), PKCS12 or PEM
//	ssl.truststore.certificates                 inline PEM, with type PEM
//	ssl.keystore.location, .type, .password     type JKS (default), PKCS12 or PEM
//	ssl.keystore.certificate.chain, .key        inline PEM, with type PEM
//	ssl.key.password
//
// In either format, and in YAML under a cluster's properties, these Java
// keys shape the handshake (tlsprops.go): ssl.enabled.protocols (TLSv1.2,
// TLSv1.3) bounds the versions, ssl.protocol caps them, ssl.cipher.suites
// names the TLS 1.2 suites by IANA name (Go's crypto/tls offers every TLS
// 1.3 suite, so a list names all three or none; with none the client stops
// at TLS 1.2, as Java's does), and ssl.endpoint.identification.algorithm=""
// skips the host name check. TLSv1, TLSv1.1, RC4 and 3DES, Java classes
// (ssl.engine.factory.class) and unknown ssl.* and sasl.* keys are refused
// by name; JVM implementation choices (ssl.provider, the key and trust
// manager algorithms, ssl.secure.random.implementation), Kerberos ticket
// renewal, broker-only keys and the sasl.login.* keys of a cluster that
// fetches no OAUTHBEARER token from a token endpoint are accepted with a
// warning that says why.
//
// As in Java, either store type reads both JKS and PKCS12 files. JCEKS and
// other store types are refused by name.
//
// SASL (SASL_PLAINTEXT or SASL_SSL) takes sasl.mechanism and one login
// module in sasl.jaas.config, written as Kafka, MSK and Strimzi document
// them; YAML says the same under sasl:
//
//	PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
//	  PlainLoginModule or ScramLoginModule required username="..." password="...";
//	  yaml: sasl: {mechanism: SCRAM-SHA-512, username: ..., password: ...}
//
//	AWS_MSK_IAM (Amazon MSK)
//	  software.amazon.msk.auth.iam.IAMLoginModule required [awsProfileName="..."]
//	    [awsRoleArn="..." awsRoleSessionName="..." awsRoleExternalId="..." awsStsRegion="..."
//	     awsRoleAccessKeyId="..." awsRoleSecretAccessKey="..." awsRoleSessionToken="..."]
//	    [awsMaxRetries="3" awsMaxBackOffTimeMs="5000"];
//	  sasl.client.callback.handler.class = software.amazon.msk.auth.iam.IAMClientCallbackHandler
//	  yaml: sasl: {mechanism: AWS_MSK_IAM, aws: {profile, role_arn, role_session_name,
//	        role_external_id, sts_region, role_access_key_id, role_secret_access_key,
//	        role_session_token, max_retries, max_backoff_ms}}
//	  Credentials come from the AWS SDK's default chain (environment, shared
//	  config and credentials files, web identity, ECS and EC2 roles) or the
//	  profile; with a role ARN, STS assumes the role with them (or with the
//	  awsRole* keys). The signing region is the one in the broker's MSK host
//	  name, else $AWS_REGION.
//
//	OAUTHBEARER, client credentials grant
//	  OAuthBearerLoginModule required clientId="..." clientSecret="..." [scope="..."]
//	    [extension_<name>="..."];
//	  sasl.login.callback.handler.class = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler
//	    (or its older name in the ...oauthbearer.secured package)
//	  sasl.oauthbearer.token.endpoint.url = https://idp/token (or file:/path/to/token)
//	  sasl.oauthbearer.scope.claim.name, .sub.claim.name, .header.urlencode
//	  yaml: sasl: {mechanism: OAUTHBEARER, oauth: {token_endpoint_url, client_id,
//	        client_secret, scope, extensions, scope_claim_name, sub_claim_name, header_urlencode}}
//	  As in Kafka, the token must be a JWT with "exp" and a subject. It is
//	  cached, and fetched again when a connection authenticates after its
//	  refresh point (properties sasl.login.refresh.window.factor,
//	  .window.jitter, .min.period.seconds, .buffer.seconds); brokers end
//	  sessions with the token, so clients re-authenticate with a new one
//	  before it expires. sasl.login.connect.timeout.ms, .read.timeout.ms,
//	  .retry.backoff.ms and .retry.backoff.max.ms pace the token requests.
//
//	OAUTHBEARER, MSK IAM tokens
//	  OAuthBearerLoginModule required [the IAMLoginModule options];
//	  sasl.login.callback.handler.class = software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler
//	  sasl.client.callback.handler.class = software.amazon.msk.auth.iam.IAMOAuthBearerClientCallbackHandler
//	  yaml: sasl: {mechanism: OAUTHBEARER, aws: {...}}; the region is $AWS_REGION or the profile's.
//
//	OAUTHBEARER, unsecured test tokens (no login callback handler)
//	  OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="..." [unsecuredLogin*...];
//	  yaml: sasl: {mechanism: OAUTHBEARER, oauth: {unsecured: {unsecuredLoginStringClaim_sub: ...}}}
//
//	GSSAPI (Kerberos), with a keytab
//	  com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="..." principal="...";
//	  sasl.kerberos.service.name = kafka
//	  java.security.krb5.conf = /etc/krb5.conf   (top level or per cluster; default $KRB5_CONFIG, else /etc/krb5.conf)
//	  yaml: sasl: {mechanism: GSSAPI, kerberos: {service_name, principal, keytab_file, config_file}}
//	  Each connection logs in with the keytab and asks the KDC for a ticket
//	  for <service_name>/<broker host>. useTicketCache is refused.
//
// Any other mechanism, login module, callback handler class or
// sasl.login.class is an error that names it. Passwords, client secrets,
// AWS secret keys and inline private keys are never shown: not in errors,
// warnings, String or JSON output.
//
// # Precedence
//
// The connector config of a flow s->t is built as in MM2 (later wins):
//
//  1. the top-level settings;
//  2. the flow's settings ("<s>-><t>.<key>", or a flow's settings in YAML);
//  3. the flow's topics, topics.exclude, groups and groups.exclude, when
//     given;
//  4. source.cluster.alias = s and target.cluster.alias = t, unless the
//     flow sets them, and enabled = true.
//
// MM2's defaults are not filled in: the connectors own them. The Java
// client properties of each client of the flow follow MM2's precedence too
// (clients.go, FlowConfig.Clients): the cluster's bare properties, the
// top-level and then the flow's "<role>.<key>", the cluster's
// "<role>.<key>", the top-level and then the flow's
// "source.<role>.<key>"/"target.<role>.<key>"; the producer of the records
// gets the target's producer properties, then "producer.override.<key>".
// The herder's worker keys (offset.storage.*, offset.flush.interval.ms,
// exactly.once.source.support, group.id) come from "<t>.<key>", where a top-level
// offset.storage.* wins as in MM2, and from the flow; "name" names the
// flow's source connector, the namespace of its stored offsets
// (FlowConfig.Worker, Expanded.Plan).
//
// # Config providers
//
// ${provider:path:key} references in values are resolved when the file is
// loaded, as Kafka's ConfigTransformer does, with Kafka's
// FileConfigProvider, DirectoryConfigProvider and EnvVarConfigProvider
// (providers.go): config.providers and config.providers.<name>.class and
// .param.* in mm2.properties, config_providers in YAML. A resolved value
// never appears in a warning or an error.
//
// # Limits
//
// A flow file is at most [MaxFileSize] (1 MiB), a key 1 KiB, a value 64
// KiB, a pattern 4 KiB; control characters, direction overrides and bytes
// that are not UTF-8 are errors; messages show what the file holds
// escaped. Validate lists at most 1000 problems and counts the rest.
//
// # Use
//
//	f, err := flows.Load("flows.yaml") // or mm2.properties
//	if err != nil {
//		return err // unreadable or too large file, YAML that does not parse
//	}
//	for _, w := range f.Warnings {
//		log.Warn(w)
//	}
//	if err := f.Check(); err != nil { // every problem, by path, TLS files read
//		return err
//	}
//	x, err := f.Expand()
//	if err != nil {
//		return err
//	}
//	for _, fc := range x.Flows {
//		opts, err := x.Clusters[fc.Source].ClientOpts() // kgo options
//		...
//	}
//
// Validation errors are an errors.Join of [*FieldError]; paths are YAML
// paths ("flows[0].topics[1]") or property keys ("A->B.topics").
package flows
