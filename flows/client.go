package flows

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

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
//	consumer: isolation.level              kgo.FetchIsolationLevel (read_committed, read_uncommitted)
//	consumer: auto.offset.reset            kgo.ConsumeResetOffset (earliest, latest, none)
//	producer: linger.ms                    kgo.ProducerLinger (up to 1m)
//	producer: batch.size                   kgo.ProducerBatchMaxBytes (512 B..100 MiB; kgo's default is 1 MB, Java's 16 KiB)
//	producer: buffer.memory                kgo.MaxBufferedBytes (bytes of records waiting for the target)
//	producer: compression.type             kgo.ProducerBatchCompression (none, gzip, snappy, lz4, zstd)
//	producer: delivery.timeout.ms          kgo.RecordDeliveryTimeout (0 or at least 1s)
//	producer: max.in.flight.requests.per.connection
//	                                       checked (at least 1) but not passed on: mm2go's producers are
//	                                       idempotent, kgo then keeps up to 5 requests in flight per broker
//	                                       and rejects kgo.MaxProduceRequestsInflightPerBroker
//
// ssl.endpoint.identification.algorithm set to "" keeps verifying the
// brokers' certificate chains but skips the host name check, as in Java.
// Worker keys ("offset.flush.interval.ms", "offset.storage.topic",
// "exactly.once.source.support") are not client properties and are left
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
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify,
		ServerName:         t.ServerName,
	}
	var errs []error
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

// Client roles for properties.
const (
	roleConsumer = 1 << iota
	roleProducer
	roleAdmin
	roleAll = roleConsumer | roleProducer | roleAdmin
)

var rolePrefixes = []struct {
	prefix string
	role   int
}{{"consumer.", roleConsumer}, {"producer.", roleProducer}, {"admin.", roleAdmin}}

// clientProp maps one Java client property onto kgo options.
type clientProp struct {
	roles int
	opts  func(v string) ([]kgo.Opt, error)
}

// clientProps are the Java client properties mm2go maps; see ClientOpts.
var clientProps = map[string]clientProp{
	"client.id": {roleAll, func(v string) ([]kgo.Opt, error) {
		if v == "" {
			return nil, errors.New("empty client id")
		}
		return []kgo.Opt{kgo.ClientID(v)}, nil
	}},
	"request.timeout.ms": {roleAll, msOpt(100*time.Millisecond, 15*time.Minute, kgo.RequestTimeoutOverhead)},
	"metadata.max.age.ms": {roleAll, func(v string) ([]kgo.Opt, error) {
		d, err := parseMs(v, 10*time.Millisecond, time.Hour)
		if err != nil {
			return nil, err
		}
		opts := []kgo.Opt{kgo.MetadataMaxAge(d)}
		if d < 5*time.Second { // kgo's default minimum age; it must not exceed the maximum
			opts = append(opts, kgo.MetadataMinAge(d))
		}
		return opts, nil
	}},
	"connections.max.idle.ms":            {roleAll, msOpt(100*time.Millisecond, 15*time.Minute, kgo.ConnIdleTimeout)},
	"socket.connection.setup.timeout.ms": {roleAll, msOpt(time.Millisecond, time.Duration(math.MaxInt32)*time.Millisecond, kgo.DialTimeout)},
	"enable.metrics.push": {roleAll, func(v string) ([]kgo.Opt, error) {
		switch strings.ToLower(v) {
		case "true":
			return nil, nil
		case "false":
			return []kgo.Opt{kgo.DisableClientMetrics()}, nil
		}
		return nil, fmt.Errorf("expected true or false, got %q", v)
	}},

	"fetch.max.bytes": {roleConsumer, func(v string) ([]kgo.Opt, error) {
		n, err := parseInt(v, 1, 1<<30)
		if err != nil {
			return nil, err
		}
		opts := []kgo.Opt{kgo.FetchMaxBytes(int32(n))}
		if n > 100<<20 { // kgo's default BrokerMaxReadBytes must not be below it
			opts = append(opts, kgo.BrokerMaxReadBytes(int32(n)))
		}
		return opts, nil
	}},
	"max.partition.fetch.bytes": {roleConsumer, intOpt(1, math.MaxInt32, func(n int32) kgo.Opt { return kgo.FetchMaxPartitionBytes(n) })},
	"fetch.min.bytes":           {roleConsumer, intOpt(0, math.MaxInt32, func(n int32) kgo.Opt { return kgo.FetchMinBytes(n) })},
	"fetch.max.wait.ms": {roleConsumer, msOpt(10*time.Millisecond, time.Duration(math.MaxInt32)*time.Millisecond,
		func(d time.Duration) kgo.Opt { return kgo.FetchMaxWait(d) })},
	"isolation.level": {roleConsumer, enumOpt(map[string]kgo.Opt{
		"read_committed":   kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		"read_uncommitted": kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
	})},
	"auto.offset.reset": {roleConsumer, enumOpt(map[string]kgo.Opt{
		"earliest": kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		"latest":   kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		"none":     kgo.ConsumeResetOffset(kgo.NoResetOffset()),
	})},

	"linger.ms":  {roleProducer, msOpt(0, time.Minute, func(d time.Duration) kgo.Opt { return kgo.ProducerLinger(d) })},
	"batch.size": {roleProducer, intOpt(512, 100<<20, func(n int32) kgo.Opt { return kgo.ProducerBatchMaxBytes(n) })},
	"buffer.memory": {roleProducer, func(v string) ([]kgo.Opt, error) {
		n, err := parseInt(v, 1, 64<<30)
		if err != nil {
			return nil, err
		}
		return []kgo.Opt{kgo.MaxBufferedBytes(int(n))}, nil
	}},
	"compression.type": {roleProducer, enumOpt(map[string]kgo.Opt{
		"none":   kgo.ProducerBatchCompression(kgo.NoCompression()),
		"gzip":   kgo.ProducerBatchCompression(kgo.GzipCompression()),
		"snappy": kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		"lz4":    kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		"zstd":   kgo.ProducerBatchCompression(kgo.ZstdCompression()),
	})},
	"delivery.timeout.ms": {roleProducer, func(v string) ([]kgo.Opt, error) {
		d, err := parseMs(v, 0, time.Duration(math.MaxInt32)*time.Millisecond)
		if err != nil {
			return nil, err
		}
		if d > 0 && d < time.Second {
			return nil, fmt.Errorf("%s is below kgo's minimum of 1s (0 means no timeout)", d)
		}
		return []kgo.Opt{kgo.RecordDeliveryTimeout(d)}, nil
	}},
	"max.in.flight.requests.per.connection": {roleProducer, func(v string) ([]kgo.Opt, error) {
		_, err := parseInt(v, 1, math.MaxInt32)
		return nil, err
	}},
}

// tlsProps are ssl.* properties TLSConfig reads.
var tlsProps = map[string]bool{"ssl.endpoint.identification.algorithm": true}

// propKind says what a cluster property is.
func propKind(key string) (prop clientProp, role int, known bool, why string) {
	if workerKeys[key] || tlsProps[key] || isSASLLoginProp(key) {
		return clientProp{}, 0, true, ""
	}
	if _, ok := structuredKeys[key]; ok {
		return clientProp{}, 0, true, "" // Validate reports it
	}
	name, role := key, roleAll
	for _, p := range rolePrefixes {
		if rest, ok := strings.CutPrefix(key, p.prefix); ok {
			name, role = rest, p.role
			break
		}
	}
	prop, ok := clientProps[name]
	if !ok {
		return clientProp{}, 0, false, "Java client property not supported by mm2go"
	}
	if prop.roles&role == 0 {
		return clientProp{}, 0, false, fmt.Sprintf("%s does not apply to %s clients", name, strings.TrimSuffix(key[:len(key)-len(name)], "."))
	}
	return prop, role, true, ""
}

// propOpts maps the cluster's properties onto options, without reading
// files. Bare properties come first, so that prefixed ones win.
func (c *Cluster) propOpts() (ClientOptions, []error) {
	var o ClientOptions
	var errs []error
	keys := sortedKeys(c.Properties)
	for pass := 0; pass < 2; pass++ {
		for _, key := range keys {
			prop, role, known, _ := propKind(key)
			if !known || prop.opts == nil || (pass == 0) != (role == roleAll) {
				continue
			}
			value := strings.TrimSpace(c.Properties[key])
			opts, err := prop.opts(value)
			if err != nil {
				errs = append(errs, &FieldError{Path: c.at("properties." + key), Msg: err.Error()})
				continue
			}
			roles := role
			if role == roleAll {
				roles = prop.roles
			}
			switch roles {
			case roleAll:
				o.Common = append(o.Common, opts...)
			default:
				if roles&roleConsumer != 0 {
					o.Consumer = append(o.Consumer, opts...)
				}
				if roles&roleProducer != 0 {
					o.Producer = append(o.Producer, opts...)
				}
				if roles&roleAdmin != 0 {
					o.Admin = append(o.Admin, opts...)
				}
			}
		}
	}
	for _, key := range keys {
		if workerKeys[key] {
			if err := checkValue(knownKeys[key], c.Properties[key]); err != nil {
				errs = append(errs, &FieldError{Path: c.at("properties." + key), Msg: err.Error()})
			}
		}
	}
	return o, errs
}

// checkClientProps returns the errors in the cluster's properties.
func checkClientProps(c *Cluster) []error {
	_, errs := c.propOpts()
	errs = append(errs, checkSASLLoginProps(c)...)
	if alg, ok := c.Properties["ssl.endpoint.identification.algorithm"]; ok {
		if a := strings.ToLower(strings.TrimSpace(alg)); a != "" && a != "https" {
			errs = append(errs, &FieldError{Path: c.at("properties.ssl.endpoint.identification.algorithm"),
				Msg: fmt.Sprintf("expected https or an empty value, got %q", alg)})
		}
	}
	return errs
}

// warnUnmappedProps adds a warning for each property of c that mm2go
// ignores.
func (f *File) warnUnmappedProps(c *Cluster) {
	for _, key := range sortedKeys(c.Properties) {
		if _, _, known, why := propKind(key); !known {
			f.warnf("%s: ignored: %s", c.at("properties."+key), why)
		}
	}
}

func parseInt(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected an integer, got %q", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range: use %d to %d", n, lo, hi)
	}
	return n, nil
}

func parseMs(v string, lo, hi time.Duration) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected milliseconds, got %q", v)
	}
	if n < 0 || n > int64(hi/time.Millisecond) || time.Duration(n)*time.Millisecond < lo {
		return 0, fmt.Errorf("%dms is out of range: use %d to %d", n, lo.Milliseconds(), hi.Milliseconds())
	}
	return time.Duration(n) * time.Millisecond, nil
}

func msOpt[O kgo.Opt](lo, hi time.Duration, opt func(time.Duration) O) func(string) ([]kgo.Opt, error) {
	return func(v string) ([]kgo.Opt, error) {
		d, err := parseMs(v, lo, hi)
		if err != nil {
			return nil, err
		}
		return []kgo.Opt{opt(d)}, nil
	}
}

func intOpt(lo, hi int64, opt func(int32) kgo.Opt) func(string) ([]kgo.Opt, error) {
	return func(v string) ([]kgo.Opt, error) {
		n, err := parseInt(v, lo, hi)
		if err != nil {
			return nil, err
		}
		return []kgo.Opt{opt(int32(n))}, nil
	}
}

func enumOpt(values map[string]kgo.Opt) func(string) ([]kgo.Opt, error) {
	return func(v string) ([]kgo.Opt, error) {
		if o, ok := values[strings.ToLower(v)]; ok {
			return []kgo.Opt{o}, nil
		}
		return nil, fmt.Errorf("expected one of %s, got %q", strings.Join(sortedKeys(values), ", "), v)
	}
}
