package flows

import (
	"fmt"
	"path/filepath"
	"strings"
)

// File is a flow file: the clusters, the settings every flow inherits, and
// the flows (MM2's source->target pairs). Both loaders, [Parse] and [Load],
// produce a File; [File.Validate] checks it and [File.Expand] turns it into
// the connector configs of the enabled flows.
type File struct {
	// Clusters by alias.
	Clusters map[string]*Cluster `json:"clusters"`
	// Settings are the top-level MM2 keys, defaults for every flow:
	// "replication.factor", "topics", "sync.group.offsets.enabled", ...
	// Values are strings, as in mm2.properties.
	Settings map[string]string `json:"settings,omitempty"`
	// Flows in file order (YAML) or sorted by source, then target
	// (mm2.properties).
	Flows []*Flow `json:"flows"`
	// Warnings lists what the loader accepted but ignores: keys of MM2's Java
	// runtime (converters, config providers, metric reporters), 3.x key
	// aliases, Java client properties mm2go does not map, and the like. Each
	// names the key.
	Warnings []string `json:"-"`

	// origin maps a setting key to where it was written when that is not
	// "settings.<key>" (mm2.properties: the bare key, or its 3.x alias).
	origin map[string]string
	// problems are errors the loader found while mapping keys onto the model
	// (an unparsable sasl.jaas.config, a JKS trust store). Validate reports
	// them with its own.
	problems []*FieldError
	// warned holds the Warnings, to add each once.
	warned map[string]bool
	// moreWarnings counts warnings past maxWarnings.
	moreWarnings int
	// secrets are the values config providers resolved, kept out of every
	// message.
	secrets *secretSet
}

// Cluster says how to reach one Kafka cluster.
type Cluster struct {
	// Alias is the cluster's name in the flow file. MM2 uses it in topic
	// names ("<alias>.<topic>", "mm2-offsets.<alias>.internal").
	Alias string `json:"alias"`
	// BootstrapServers are host:port pairs.
	BootstrapServers []string `json:"bootstrap_servers"`
	// SecurityProtocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. Empty
	// means PLAINTEXT, or, when TLS or SASL is set, the protocol they imply
	// (SSL, SASL_PLAINTEXT or SASL_SSL).
	SecurityProtocol string `json:"security_protocol"`
	// TLS holds the PEM files and checks of a TLS connection. It is used only
	// when SecurityProtocol is SSL or SASL_SSL; nil means system roots and
	// no client certificate.
	TLS *TLS `json:"tls,omitempty"`
	// SASL holds the credentials for SASL_PLAINTEXT and SASL_SSL.
	SASL *SASL `json:"sasl,omitempty"`
	// Properties are free-form Java client properties and cluster-level MM2
	// keys, without the alias prefix: "client.id",
	// "consumer.fetch.max.bytes", "producer.linger.ms",
	// "offset.flush.interval.ms". See [Cluster.ClientOpts] for the ones
	// mm2go maps onto franz-go.
	Properties map[string]string `json:"properties,omitempty"`

	// path is where the cluster was defined: "clusters.primary" (YAML) or
	// "primary" (mm2.properties).
	path string
	// origin maps a field ("bootstrap_servers", "tls.ca_file",
	// "properties.client.id") to where it was written, when that is not
	// path + "." + field.
	origin map[string]string
}

// TLS configures TLS for a cluster. Paths are used as written: relative
// paths are relative to the working directory, as in Java. Trust comes from
// CAFile, CAPEM and TruststoreFile together (else the system roots); the
// client certificate from CertFile/KeyFile, CertPEM/KeyPEM or
// KeystoreFile, one of them. [TLS.String] never shows a password or a key.
type TLS struct {
	// CAFile is a PEM file of CA certificates that sign the brokers'
	// certificates (ssl.truststore.location with ssl.truststore.type=PEM).
	CAFile string `json:"ca_file,omitempty" koanf:"ca_file"`
	// CAPEM holds the same as CAFile, inline (ssl.truststore.certificates).
	CAPEM string `json:"ca_pem,omitempty" koanf:"ca_pem"`
	// TruststoreFile is a Java trust store, JKS or PKCS12
	// (ssl.truststore.location), read with TruststorePassword
	// (ssl.truststore.password). Its trusted certificates are the roots.
	TruststoreFile string `json:"truststore_file,omitempty" koanf:"truststore_file"`
	// TruststoreType is JKS or PKCS12 (ssl.truststore.type). Either reads
	// both formats, as Java's key stores do; empty means JKS.
	TruststoreType     string `json:"truststore_type,omitempty" koanf:"truststore_type"`
	TruststorePassword string `json:"-" koanf:"truststore_password"`
	// CertFile and KeyFile are the PEM client certificate chain and its
	// private key, for mutual TLS. They may name the same file
	// (ssl.keystore.location with ssl.keystore.type=PEM holds both).
	CertFile string `json:"cert_file,omitempty" koanf:"cert_file"`
	KeyFile  string `json:"key_file,omitempty" koanf:"key_file"`
	// CertPEM and KeyPEM hold the same, inline
	// (ssl.keystore.certificate.chain and ssl.keystore.key).
	CertPEM string `json:"cert_pem,omitempty" koanf:"cert_pem"`
	KeyPEM  string `json:"-" koanf:"key_pem"`
	// KeystoreFile is a Java key store, JKS or PKCS12, holding the client
	// certificate chain and its private key (ssl.keystore.location), read
	// with KeystorePassword (ssl.keystore.password).
	KeystoreFile string `json:"keystore_file,omitempty" koanf:"keystore_file"`
	// KeystoreType is JKS or PKCS12 (ssl.keystore.type); empty means JKS.
	KeystoreType     string `json:"keystore_type,omitempty" koanf:"keystore_type"`
	KeystorePassword string `json:"-" koanf:"keystore_password"`
	// KeyPassword decrypts the private key (ssl.key.password): an encrypted
	// PKCS#8 PEM key ("ENCRYPTED PRIVATE KEY"), or the key entry of a JKS
	// key store, where it defaults to KeystorePassword.
	KeyPassword string `json:"-" koanf:"key_password"`
	// InsecureSkipVerify turns off all checks of the brokers' certificates.
	// For tests only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty" koanf:"insecure_skip_verify"`
	// ServerName overrides the host name checked against the brokers'
	// certificates; empty means the host dialed.
	ServerName string `json:"server_name,omitempty" koanf:"server_name"`
}

// SASL holds the SASL mechanism of a cluster and its credentials: a user
// name and password for PLAIN and SCRAM, AWS for AWS_MSK_IAM (and for
// OAUTHBEARER with MSK's IAM tokens), OAuth for OAUTHBEARER, Kerberos for
// GSSAPI. [SASL.String] never shows a secret.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, AWS_MSK_IAM,
	// OAUTHBEARER or GSSAPI.
	Mechanism string `json:"mechanism" koanf:"mechanism"`
	Username  string `json:"username,omitempty" koanf:"username"`
	Password  string `json:"-" koanf:"password"`
	// AWS says where AWS_MSK_IAM finds its credentials; nil means the
	// default credential chain. With OAUTHBEARER it selects MSK's IAM
	// tokens (IAMOAuthBearerLoginCallbackHandler).
	AWS *AWSIAM `json:"aws,omitempty" koanf:"aws"`
	// OAuth configures OAUTHBEARER tokens from an OAuth 2 token endpoint
	// (client credentials), or unsecured test tokens.
	OAuth *OAuth `json:"oauth,omitempty" koanf:"oauth"`
	// Kerberos configures GSSAPI.
	Kerberos *Kerberos `json:"kerberos,omitempty" koanf:"kerberos"`

	// loadFailed says that the mm2.properties loader reported why the
	// settings could not be mapped, so Validate adds nothing about them.
	loadFailed bool
}

// Flow is one direction of replication, source -> target: MM2's herder
// with its source, checkpoint and heartbeat connectors.
type Flow struct {
	// Source and Target are cluster aliases.
	Source string `json:"source"`
	Target string `json:"target"`
	// Enabled says whether the flow runs. In YAML it defaults to true (a
	// listed flow is wanted); in mm2.properties to false, as in MM2
	// ("<s>-><t>.enabled").
	Enabled bool `json:"enabled"`
	// Topics, TopicsExclude, Groups and GroupsExclude are lists of regular
	// expressions, each matched against the whole name. nil means the list
	// comes from File.Settings ("topics", "topics.exclude", "groups",
	// "groups.exclude"), or else the connectors' MM2 defaults; an empty,
	// non-nil list matches nothing.
	Topics        []string `json:"topics,omitempty"`
	TopicsExclude []string `json:"topics_exclude,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	GroupsExclude []string `json:"groups_exclude,omitempty"`
	// Settings override File.Settings for this flow; MM2 key names.
	Settings map[string]string `json:"settings,omitempty"`

	// path is "flows[0]" (YAML) or "A->B" (mm2.properties).
	path string
	// origin maps a field ("source", "topics", "settings.tasks.max") to
	// where it was written, when that is not path + "." + field.
	origin map[string]string
}

// Name returns "source->target", MM2's name for the flow.
func (fl *Flow) Name() string { return fl.Source + "->" + fl.Target }

// FieldError is one problem in a flow file. Path names where it is, in the
// file's own terms: "clusters.primary.bootstrap_servers" or
// "flows[0].topics[1]" in YAML, the property key ("primary.bootstrap.servers",
// "A->B.topics") in mm2.properties.
type FieldError struct {
	Path string
	Msg  string
}

// Error returns "path: msg".
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Format is the syntax of a flow file.
type Format int

const (
	// FormatYAML is mm2go's YAML flow file (".yaml", ".yml").
	FormatYAML Format = iota + 1
	// FormatProperties is MM2's mm2.properties (".properties").
	FormatProperties
)

// String returns "yaml" or "properties".
func (f Format) String() string {
	switch f {
	case FormatYAML:
		return "yaml"
	case FormatProperties:
		return "properties"
	default:
		return fmt.Sprintf("Format(%d)", int(f))
	}
}

// FormatOf returns the format of a flow file from its extension: ".yaml"
// and ".yml" are YAML, ".properties" is mm2.properties.
func FormatOf(path string) (Format, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		return FormatYAML, nil
	case ".properties":
		return FormatProperties, nil
	case "":
		return 0, fmt.Errorf("pick format of %s: no file extension; use .yaml, .yml or .properties", path)
	default:
		return 0, fmt.Errorf("pick format of %s: unsupported extension %q; use .yaml, .yml or .properties", path, ext)
	}
}

// Load reads the flow file at path, picking the loader by extension (see
// [FormatOf]). It reads at most [MaxFileSize] bytes: a larger file (or a
// device such as /dev/zero) is an error. The file is not validated: call
// [File.Validate] or [File.Check].
func Load(path string) (*File, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("read flow file: %w", err)
	}
	f, err := Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return f, nil
}

// Parse parses a flow file of at most [MaxFileSize] bytes and resolves its
// config provider references. Only a file that cannot be parsed at all (YAML
// that is not well-formed, a file too large) is an error here: every other
// problem (unknown keys, bad values, characters that have no place in a
// flow file) is kept for [File.Validate], which reports them all at once.
func Parse(data []byte, format Format) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, errTooLarge("the flow file")
	}
	var f *File
	var err error
	switch format {
	case FormatYAML:
		f, err = parseYAML(data)
	case FormatProperties:
		f, err = parsePropertiesFile(data)
	default:
		return nil, fmt.Errorf("parse flow file: unknown format %v", format)
	}
	if err != nil {
		return nil, err
	}
	if f.moreWarnings > 0 {
		f.Warnings = append(f.Warnings, fmt.Sprintf("and %d more warnings", f.moreWarnings))
	}
	return f, nil
}

// where returns origin[field] if set, else base + "." + field.
func where(origin map[string]string, base, field string) string {
	if p, ok := origin[field]; ok {
		return p
	}
	if base == "" {
		return field
	}
	return base + "." + field
}

// base returns the path of the cluster in messages.
func (c *Cluster) base() string {
	if c.path != "" {
		return c.path
	}
	return "clusters." + c.Alias
}

// at returns the path of a field of c in messages.
func (c *Cluster) at(field string) string { return where(c.origin, c.base(), field) }

// settingPath returns the path of a top-level setting in messages.
func (f *File) settingPath(key string) string { return where(f.origin, "", "settings."+key) }

// warnf adds a warning, once, cleaned of secrets and control characters.
func (f *File) warnf(format string, args ...any) {
	w := f.secrets.clean("", fmt.Sprintf(format, args...))
	if f.warned[w] {
		return
	}
	if f.warned == nil {
		f.warned = make(map[string]bool)
	}
	f.warned[w] = true
	if len(f.Warnings) >= maxWarnings {
		f.moreWarnings++
		return
	}
	f.Warnings = append(f.Warnings, w)
}

// problem records an error found while loading, for Validate.
func (f *File) problem(path, format string, args ...any) {
	f.problems = append(f.problems, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}
