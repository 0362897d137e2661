package flows

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientOptions are the franz-go options for the clients of one cluster.
// A client of a role gets Common, then the role's options, then its own
// (later options win in kgo).
type ClientOptions struct {
	// Common go to every client: seed brokers, TLS, SASL, client.id and the
	// client-wide Java properties.
	Common []kgo.Opt
	// Consumer, Producer and Admin go to clients of that role: MM2's
	// <alias>.consumer.*, .producer.* and .admin.* properties, and
	// un-prefixed properties that only apply to that role
	// ("fetch.max.bytes" is a consumer property).
	Consumer []kgo.Opt
	Producer []kgo.Opt
	Admin    []kgo.Opt
}

// ClientOpts turns the cluster into franz-go options: kgo.SeedBrokers,
// TLS from PEM files through kgo.DialTLSConfig (see [Cluster.TLSConfig];
// TLS cannot be combined with a custom kgo.Dialer), SASL PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512, and the Java client properties below.
// It reads the PEM files; errors name the property's path and join every
// problem found.
//
// Java client properties in Properties apply to every client that knows
// them when written bare ("request.timeout.ms"), or to one role when
// prefixed with "consumer.", "producer." or "admin."; a prefixed property
// wins over a bare one. Mapped properties:
//
//	client.id                              kgo.ClientID
//	request.timeout.ms                     kgo.RequestTimeoutOverhead (100ms..15m; kgo adds it to a request's own timeout)
//	metadata.max.age.ms                    kgo.MetadataMaxAge (10ms..1h)
//	connections.max.idle.ms                kgo.ConnIdleTimeout (100ms..15m)
//	socket.connection.setup.timeout.ms     kgo.DialTimeout
//	enable.metrics.push                    false: kgo.DisableClientMetrics (KIP-714 client metrics; pushed only
//	                                       to brokers that ask for them)
//	consumer: fetch.max.bytes              kgo.FetchMaxBytes (up to 1 GiB; raises kgo.BrokerMaxReadBytes above 100 MiB)
//	consumer: max.partition.fetch.bytes    kgo.FetchMaxPartitionBytes
//	consumer: fetch.max.wait.ms            kgo.FetchMaxWait (at least 10ms)
//	consumer: fetch.min.bytes              kgo.FetchMinBytes
//	consumer: isolation.level              kgo.FetchIsolationLevel (read_committed, read_uncommitted; the
//	                                       replication consumer of an exactly-once flow always reads
//	                                       read_committed, and refuses read_uncommitted)
//	consumer: auto.offset.reset            kgo.ConsumeResetOffset (earliest, latest, none)
//	producer: linger.ms                    kgo.ProducerLinger (up to 1m)
//	producer: batch.size                   kgo.ProducerBatchMaxBytes (512 B..100 MiB; kgo's default is 1 MB, Java's 16 KiB)
//	producer: buffer.memory                kgo.MaxBufferedBytes (bytes of records waiting for the target)
//	producer: compression.type             kgo.ProducerBatchCompression (none, gzip, snappy, lz4, zstd)
//	producer: delivery.timeout.ms          kgo.RecordDeliveryTimeout (0 or at least 1s)
//	producer: transaction.timeout.ms       kgo.TransactionTimeout (1s..15m; exactly-once mode; default 60s)
//	producer: max.in.flight.requests.per.connection
//	                                       checked (at least 1) but not passed on: mm2go's producers are
//	                                       idempotent, kgo then keeps up to 5 requests in flight per broker
//	                                       and rejects kgo.MaxProduceRequestsInflightPerBroker
//
// ssl.endpoint.identification.algorithm set to "" keeps verifying the
// brokers' certificate chains but skips the host name check, as in Java;
// ssl.enabled.protocols, ssl.protocol and ssl.cipher.suites set the TLS
// versions and cipher suites (see tlsTuning).
// Worker keys ("offset.flush.interval.ms", "offset.storage.topic",
// "exactly.once.source.support", "group.id") are not client properties and are left
// to the worker. Other properties are ignored; the loaders list them in
// [File.Warnings].
func (c *Cluster) ClientOpts() (ClientOptions, error) {
	o, errs := c.propOpts()
	var servers []string
	for _, s := range c.BootstrapServers {
		if s = strings.TrimSpace(s); s != "" {
			servers = append(servers, s)
		}
	}
	if len(servers) == 0 {
		errs = append(errs, &FieldError{Path: c.at("bootstrap_servers"), Msg: "required: list at least one host:port"})
	}
	common := []kgo.Opt{kgo.SeedBrokers(servers...)}
	tlsCfg, err := c.TLSConfig()
	if err != nil {
		errs = append(errs, err)
	} else if tlsCfg != nil {
		common = append(common, kgo.DialTLSConfig(tlsCfg))
	}
	if m, err := c.saslMechanism(); err != nil {
		errs = append(errs, err)
	} else if m != nil {
		common = append(common, kgo.SASL(m))
	}
	o.Common = append(common, o.Common...)
	if len(errs) > 0 {
		return ClientOptions{}, errors.Join(errs...)
	}
	return o, nil
}

// TLSConfig returns the TLS config for the cluster's brokers, or nil if its
// security protocol does not use TLS. It reads the PEM files: CAFile as
// the roots (else the system roots), CertFile and KeyFile as the client
// certificate (KeyPassword decrypts an encrypted PKCS#8 key). Use it with
// your own dialer when kgo.DialTLSConfig does not fit.
func (c *Cluster) TLSConfig() (*tls.Config, error) {
	if !usesTLS(c.protocol()) {
		return nil, nil
	}
	t := c.TLS
	if t == nil {
		t = &TLS{}
	}
	cfg := &tls.Config{
		InsecureSkipVerify: t.InsecureSkipVerify,
		ServerName:         t.ServerName,
	}
	tuning, errs := c.tlsTuning() // ssl.enabled.protocols, ssl.protocol, ssl.cipher.suites
	tuning.apply(cfg)
	if t.CAFile != "" {
		data, err := os.ReadFile(t.CAFile)
		if err != nil {
			errs = append(errs, &FieldError{Path: c.at("tls.ca_file"), Msg: fmt.Sprintf("read CA file: %v", err)})
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(data) {
				errs = append(errs, &FieldError{Path: c.at("tls.ca_file"),
					Msg: fmt.Sprintf("no PEM certificates in %s", t.CAFile)})
			}
			cfg.RootCAs = pool
		}
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := loadKeyPair(t.CertFile, t.KeyFile, t.KeyPassword)
		if err != nil {
			field := "tls.cert_file"
			var ke *keyError
			if errors.As(err, &ke) {
				field = "tls.key_file"
			}
			errs = append(errs, &FieldError{Path: c.at(field), Msg: err.Error()})
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	errs = append(errs, c.addStores(t, cfg)...) // keystore.go: Java stores, inline PEM
	if alg, ok := c.Properties["ssl.endpoint.identification.algorithm"]; ok {
		switch strings.ToLower(strings.TrimSpace(alg)) {
		case "https":
		case "":
			if !cfg.InsecureSkipVerify {
				skipHostnameCheck(cfg)
			}
		default:
			errs = append(errs, &FieldError{Path: c.at("properties.ssl.endpoint.identification.algorithm"),
				Msg: fmt.Sprintf("expected https or an empty value, got %q", alg)})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// skipHostnameCheck makes cfg verify the brokers' certificate chains
// against its roots without matching the host name, as Java does with an
// empty ssl.endpoint.identification.algorithm.
func skipHostnameCheck(cfg *tls.Config) {
	roots := cfg.RootCAs          // nil: system roots
	cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("verify broker certificate: none presented")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return fmt.Errorf("verify broker certificate: %w", err)
		}
		return nil
	}
}

// keyError marks an error about the private key rather than the
// certificate.
type keyError struct{ err error }

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// loadKeyPair loads a PEM certificate chain and private key, which may be
// in one file.
func loadKeyPair(certFile, keyFile, password string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read certificate file: %w", err)
	}
	keyData, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, &keyError{fmt.Errorf("read key file: %w", err)}
	}
	var keyBlock *pem.Block
	for rest := keyData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY") {
			keyBlock = b
			break
		}
	}
	if keyBlock == nil {
		return tls.Certificate{}, &keyError{fmt.Errorf("no PEM private key in %s", keyFile)}
	}
	switch {
	case keyBlock.Type == "ENCRYPTED PRIVATE KEY":
		if password == "" {
			return tls.Certificate{}, &keyError{fmt.Errorf("key in %s is encrypted; set the key password (ssl.key.password)", keyFile)}
		}
		der, err := decryptPKCS8(keyBlock.Bytes, password)
		if err != nil {
			return tls.Certificate{}, &keyError{fmt.Errorf("decrypt key in %s: %w", keyFile, err)}
		}
		keyBlock = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case strings.Contains(keyBlock.Headers["Proc-Type"], "ENCRYPTED"):
		return tls.Certificate{}, &keyError{fmt.Errorf("key in %s uses legacy PEM encryption, which is not supported; "+
			"convert it to PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc -in %s -out key.pem)", keyFile, keyFile)}
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(keyBlock))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load client certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// propOpts maps the cluster's Java client properties onto options for each
// role (see clientprops.go), without reading files, and checks its worker
// keys.
func (c *Cluster) propOpts() (ClientOptions, []error) {
	var o ClientOptions
	var errs []error
	seen := make(map[string]bool) // a bad bare property is reported once, not per role
	for _, r := range roles {
		opts, rerrs := roleOpts(c.clusterProps(r.role), r.role)
		for _, e := range rerrs {
			if !seen[e.Error()] {
				seen[e.Error()] = true
				errs = append(errs, e)
			}
		}
		switch r.role {
		case roleConsumer:
			o.Consumer = opts
		case roleProducer:
			o.Producer = opts
		default:
			o.Admin = opts
		}
	}
	for _, key := range sortedKeys(c.Properties) {
		if workerKeys[key] {
			if err := checkValue(knownKeys[key], c.Properties[key]); err != nil {
				errs = append(errs, &FieldError{Path: c.at("properties." + key), Msg: err.Error()})
			}
		}
	}
	return o, errs
}

// checkClientProps returns the errors in the cluster's properties: values
// mm2go cannot use, and properties it refuses or does not know.
func checkClientProps(c *Cluster) []error {
	_, errs := c.propOpts()
	errs = append(errs, checkSASLLoginProps(c)...)
	_, terrs := c.tlsTuning()
	errs = append(errs, terrs...)
	if alg, ok := c.Properties["ssl.endpoint.identification.algorithm"]; ok {
		if a := strings.ToLower(strings.TrimSpace(alg)); a != "" && a != "https" {
			errs = append(errs, &FieldError{Path: c.at("properties.ssl.endpoint.identification.algorithm"),
				Msg: fmt.Sprintf("expected https or an empty value, got %q", alg)})
		}
	}
	for _, key := range sortedKeys(c.Properties) {
		if refuse, _ := clusterPropProblem(key, c.Properties[key]); refuse != "" {
			errs = append(errs, &FieldError{Path: c.at("properties." + key), Msg: refuse})
		}
	}
	return errs
}

// warnUnmappedProps adds a warning for each property of c that does not
// matter for mm2go.
func (f *File) warnUnmappedProps(c *Cluster) {
	for _, key := range sortedKeys(c.Properties) {
		if _, ignore := clusterPropProblem(key, c.Properties[key]); ignore != "" {
			f.warnf("%s: ignored: %s", c.at("properties."+key), ignore)
		} else if strings.HasPrefix(key, "ssl.") && !usesTLS(c.protocol()) {
			// As in Java: TLS settings of a cluster without TLS do nothing.
			f.warnf("%s: ignored: security protocol %s does not use TLS", c.at("properties."+key), c.protocol())
		} else if isSASLLoginProp(key) && !c.fetchesOAuthTokens() {
			f.warnf("%s: ignored: it times and bounds fetching OAUTHBEARER tokens from a token endpoint "+
				"(sasl.oauthbearer.token.endpoint.url), and this cluster fetches none", c.at("properties."+key))
		}
	}
}

// fetchesOAuthTokens reports whether the cluster's clients fetch OAUTHBEARER
// tokens from a token endpoint, the only use of the sasl.login.* properties:
// MSK IAM tokens are made afresh for every connection, unsecured ones are
// made up, and other mechanisms have no tokens.
func (c *Cluster) fetchesOAuthTokens() bool {
	s := c.SASL
	return s != nil && strings.EqualFold(strings.TrimSpace(s.Mechanism), mechOAuth) && s.AWS == nil && s.OAuth != nil && s.OAuth.Unsecured == nil
}

// clusterPropProblem says what is wrong with a cluster property (key
// without the alias), if anything: refuse is an error, ignore a warning.
// Worker keys and mapped client properties are fine; connection settings
// are the cluster's TLS and SASL (client.go and the loaders); Connect
// worker keys go the way of the same top-level keys.
func clusterPropProblem(key, value string) (refuse, ignore string) {
	switch {
	case workerKeys[key], isSASLLoginProp(key):
		return "", ""
	case isConnectionKey(key):
		if _, ok := structuredKeys[key]; ok {
			return "", "" // Validate says which field to use
		}
		return securityPropProblem(key, value)
	}
	if name, role, ok := clientKey(key); ok {
		if isConnectionKey(name) {
			return "connection settings belong to the cluster as a whole: set " + name + " without the role prefix", ""
		}
		if role == 0 { // bare: judged for the first role that knows it
			roles := clientProps[name].roles
			role = roles & -roles
		}
		return clientPropProblem(name, role)
	}
	switch class, detail := classify(key, value); class {
	case classIgnored:
		return "", detail
	case classRefused:
		return detail, ""
	case classHonoured:
		return "", ""
	case classKnown:
		return "a flow setting, not a cluster property: set it at the top level or per flow", ""
	}
	return "unknown property" + didYouMean(suggest(key, clientPropNames())), ""
}
